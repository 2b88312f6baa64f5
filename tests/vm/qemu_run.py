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
  --answer-delay S      type answers S seconds after their prompt (default 0):
                        systemd's password agent flushes the terminal's
                        input as it starts reading, after its prompt
  --answer-retry S      type an answer again when the console stays silent
                        for S seconds after it (at most 3 times; default 0:
                        never): on a loaded host the agent can still be
                        starting, and flush what was typed, after the delay
  --quit-when-matched   stop qemu once every --expect matched (a probe)
Exit 0 when every --expect matched, no --reject did and qemu powered off
(or, with --quit-when-matched, was stopped after the last match).
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
    p.add_argument("--answer-delay", type=float, default=0)
    p.add_argument("--answer-retry", type=float, default=0)
    p.add_argument("--quit-when-matched", action="store_true")
    p.add_argument("qemu", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.qemu[:1] == ["--"]:
        args.qemu = args.qemu[1:]
    return args


class Console:
    def __init__(self, log, answers, proc, start, delay, retry=0):
        self.log, self.proc, self.start, self.delay = log, proc, start, delay
        self.answers = dict(a.split("=", 1) for a in answers)
        self.pending = b""  # bytes since the last newline (prompts have none)
        self.lines = []
        self.due = []  # (monotonic time, answer) not typed yet
        self.retry = retry
        self.unheard = []  # [time typed, answer, times typed]: no output since

    def type(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def type_due(self):
        now = time.monotonic()
        for when, text in [d for d in self.due if d[0] <= now]:
            self.type(text)
            self.due.remove((when, text))
            if self.retry:
                self.unheard.append([now, text, 1])
        for entry in [u for u in self.unheard if now - u[0] >= self.retry]:
            if entry[2] >= 3:
                self.unheard.remove(entry)
                continue
            self.line(f"qemu_run.py: no console output {self.retry:.0f} s after an answer; "
                      "typing it again")
            self.type(entry[1])
            entry[0], entry[2] = now, entry[2] + 1

    def answer_prompts(self, text):
        """Schedule the answer of each prompt in TEXT; the log's mark, or ""."""
        mark = ""
        for prompt in [p for p in self.answers if p in text]:
            self.due.append((time.monotonic() + self.delay, self.answers.pop(prompt)))
            mark = " <typed by qemu_run.py>"
        return mark

    def feed(self, data):
        self.unheard = []  # the guest printed something: the answer was heard
        self.pending += data
        *done, self.pending = self.pending.split(b"\n")
        # A prompt has no newline, but a kernel message printed after it in
        # the same read ends its line: look for prompts in whole lines too.
        for raw in done:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            self.line(text + self.answer_prompts(text))
        tail = self.pending.decode("utf-8", "replace")
        mark = self.answer_prompts(tail)
        if mark:
            self.line(tail + mark)
            self.pending = b""
        self.type_due()

    def line(self, text):
        stamp = time.monotonic() - self.start
        self.lines.append((stamp, text))
        self.log.write(f"[{stamp:7.2f}] {text}\n")
        self.log.flush()


def match_expected(expects, lines):
    """(stamp, text) of the line each --expect matched, in order, as far as they match."""
    found, at = [], 0
    for want in expects:
        rx = re.compile(want)
        while at < len(lines) and not rx.search(lines[at][1]):
            at += 1
        if at == len(lines):
            break
        found.append(lines[at])
    return found


def run(args):
    start = time.monotonic()
    proc = subprocess.Popen(args.qemu, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    with open(args.log, "w") as log:
        console = Console(log, args.answer, proc, start, args.answer_delay, args.answer_retry)
        timed_out = stopped = False
        while True:
            left = args.timeout - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                proc.kill()
                break
            if not sel.select(timeout=min(left, 0.2 if console.due else 1.0)):
                console.type_due()
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            console.feed(data)
            if args.quit_when_matched and \
                    len(match_expected(args.expect, console.lines)) == len(args.expect):
                stopped = True
                proc.kill()
                break
        if console.pending:
            console.line(console.pending.decode("utf-8", "replace"))
        status = proc.wait()
        how = " (timed out)" if timed_out else " (stopped: every --expect matched)" if stopped else ""
        console.line(f"qemu_run.py: qemu exited with {status} after "
                     f"{time.monotonic() - start:.1f} s{how}")
    return judge(args, console.lines, timed_out, 0 if stopped else status)


def judge(args, lines, timed_out, status):
    found = match_expected(args.expect, lines)
    for stamp, text in found:
        print(f"qemu_run.py: [{stamp:.2f} s] {text}")
    if len(found) < len(args.expect):
        print(f"qemu_run.py: no console line matched {args.expect[len(found)]!r}"
              f"{' before the timeout' if timed_out else ''}")
        return 3 if timed_out else 1
    for bad in args.reject:
        for stamp, text in lines:
            if re.search(bad, text):
                print(f"qemu_run.py: [{stamp:.2f} s] rejected line: {text}")
                return 1
    if timed_out:
        print(f"qemu_run.py: timed out after {args.timeout:.0f} s")
        return 3
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(run(parse()))
