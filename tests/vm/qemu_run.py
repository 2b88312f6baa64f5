#!/usr/bin/python3
"""qemu_run.py [options] -- QEMU-ARGS...

Boot qemu-system-x86_64 with the serial console on a pipe, copy the console
to --log (each line prefixed with the seconds since start), answer prompts,
and judge the boot by marker lines: qemu exits 0 after a guest panic too.

  --log FILE            console log
  --timeout S           kill qemu after S seconds (exit 3)
  --expect RE           a console line must match RE (repeatable, in order)
  --reject RE           no console line may match RE (repeatable)
  --answer PROMPT=TEXT  type TEXT and Enter when PROMPT appears (once each)
Exit 0 when every --expect matched, no --reject did and qemu powered off.
"""
import argparse
import os
import re
import selectors
import subprocess
import sys
import time


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--expect", action="append", default=[])
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--answer", action="append", default=[])
    p.add_argument("qemu", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.qemu[:1] == ["--"]:
        args.qemu = args.qemu[1:]
    return args


class Console:
    def __init__(self, log, answers, proc, start):
        self.log, self.proc, self.start = log, proc, start
        self.answers = dict(a.split("=", 1) for a in answers)
        self.pending = b""  # bytes since the last newline (prompts have none)
        self.lines = []

    def feed(self, data):
        self.pending += data
        *done, self.pending = self.pending.split(b"\n")
        for raw in done:
            self.line(raw.decode("utf-8", "replace").rstrip("\r"))
        tail = self.pending.decode("utf-8", "replace")
        for prompt in list(self.answers):
            if prompt in tail:
                self.line(tail + " <typed by qemu_run.py>")
                self.pending = b""
                self.proc.stdin.write(self.answers.pop(prompt).encode() + b"\n")
                self.proc.stdin.flush()

    def line(self, text):
        stamp = time.monotonic() - self.start
        self.lines.append((stamp, text))
        self.log.write(f"[{stamp:7.2f}] {text}\n")
        self.log.flush()


def run(args):
    start = time.monotonic()
    proc = subprocess.Popen(args.qemu, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    with open(args.log, "w") as log:
        console = Console(log, args.answer, proc, start)
        timed_out = False
        while True:
            left = args.timeout - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                proc.kill()
                break
            if not sel.select(timeout=min(left, 1.0)):
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            console.feed(data)
        if console.pending:
            console.line(console.pending.decode("utf-8", "replace"))
        status = proc.wait()
        console.line(f"qemu_run.py: qemu exited with {status} after "
                     f"{time.monotonic() - start:.1f} s{' (timed out)' if timed_out else ''}")
    return judge(args, console.lines, timed_out, status)


def judge(args, lines, timed_out, status):
    at = 0
    for want in args.expect:
        rx = re.compile(want)
        while at < len(lines) and not rx.search(lines[at][1]):
            at += 1
        if at == len(lines):
            print(f"qemu_run.py: no console line matched {want!r} (see {args.log})")
            return 3 if timed_out else 1
        print(f"qemu_run.py: [{lines[at][0]:.2f} s] {lines[at][1]}")
    for bad in args.reject:
        for stamp, text in lines:
            if re.search(bad, text):
                print(f"qemu_run.py: [{stamp:.2f} s] rejected line: {text}")
                return 1
    if timed_out:
        print(f"qemu_run.py: timed out after {args.timeout:.0f} s (see {args.log})")
        return 3
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(run(parse()))
