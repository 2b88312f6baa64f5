# scanmem.py PID NAME=FILE...: search the memory of the stopped process PID
# (every mapping with pages in memory or swap, whatever its protection, read
# through /proc/PID/mem; but for [vvar] and [vsyscall], and mappings over 1
# GiB, which only a sanitizer's shadow memory is) for secrets: each
# FILE's bytes, whole or any 16-byte window of them (a secret shorter than
# 16 bytes: whole only). Prints
#   hit NAME ADDRESS FIRST LENGTH PERMS VMFLAGS MAPPING
# for every place where a secret, or a part of it, lies (FIRST, LENGTH: the
# part of the secret found there; VMFLAGS: the mapping's VmFlags in
# /proc/PID/smaps, e.g. "lo" locked, "dd" not in core dumps), then
#   scanned BYTES bytes in N mappings
#   skipped START-END SIZE RSS-KB MAPPING    (a mapping over 1 GiB)
#   hits NAME COUNT
# for every secret. Part of tests/cli/t_secrets.sh; needs root (or ptrace
# rights over PID).
import re
import sys

WINDOW = 16
HUGE = 1 << 30


def mappings(pid):
    """[start, end, perms, name, vmflags, kB resident or swapped] of every
    mapping, from smaps."""
    maps = []
    for line in open("/proc/%s/smaps" % pid):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if m:
            maps.append([int(m.group(1), 16), int(m.group(2), 16), m.group(3),
                         m.group(4) or "[anon]", [], 0])
        elif line.startswith("VmFlags:") and maps:
            maps[-1][4] = line.split()[1:]
        elif line.startswith(("Rss:", "Swap:")) and maps:
            maps[-1][5] += int(line.split()[1])
    return maps


def places(data, secret):
    """{offset in data where the secret would begin: offsets of the secret found}"""
    win = min(WINDOW, len(secret))
    found = {}
    for off in range(0, len(secret) - win + 1):
        needle = secret[off:off + win]
        i = data.find(needle)
        while i >= 0:
            found.setdefault(i - off, set()).add(off)
            i = data.find(needle, i + 1)
    return found, win


def main():
    pid = sys.argv[1]
    secrets = {}
    for arg in sys.argv[2:]:
        name, _, path = arg.partition("=")
        secrets[name] = open(path, "rb").read()
        if not secrets[name]:
            sys.exit("scanmem.py: %s is empty" % path)
    hits = {name: 0 for name in secrets}
    total = nmaps = 0
    with open("/proc/%s/mem" % pid, "rb", buffering=0) as mem:
        for start, end, perms, name, vmflags, kb in mappings(pid):
            if not kb or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            if end - start > HUGE:
                print("skipped %x-%x %d %d %s" % (start, end, end - start, kb, name))
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue  # e.g. device mappings; nothing of ours lives there
            total += len(data)
            nmaps += 1
            for sname, secret in secrets.items():
                found, win = places(data, secret)
                for base, offs in sorted(found.items()):
                    first, last = min(offs), max(offs) + win
                    hits[sname] += 1
                    print("hit %s 0x%x %d %d %s %s %s" % (
                        sname, start + base + first, first, last - first, perms,
                        ",".join(vmflags) or "-", name))
    print("scanned %d bytes in %d mappings" % (total, nmaps))
    for sname in secrets:
        print("hits %s %d" % (sname, hits[sname]))
    if not total:
        sys.exit("scanmem.py: could not read any memory of process %s" % pid)


main()
