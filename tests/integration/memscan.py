#!/usr/bin/env python3
"""Looks for strings in a live process's memory (test_memory.sh).

  memscan.py PID --outside-dd STRING...   exit 1 if a STRING lies in a
                                          mapping without VmFlags "dd"
  memscan.py PID --nowhere STRING...      exit 1 if a STRING lies anywhere
  memscan.py PID --flags STRING           the VmFlags of the mappings that
                                          hold STRING, one line each

Reads every readable mapping through /proc/PID/mem (root), with the
mapping list and flags from /proc/PID/smaps.  Mappings over 4 GiB are
not scanned: only ASan's shadow is that large, and it holds shadow bytes,
not data.  Each prints "SKIP - memscan: ..." on stderr, and the exit is 3
(not scanned everywhere) unless TS_ALLOW_SKIP (comma-separated) names
"bigmap" or a STRING was found where it must not be (1).  Prints each hit (address, mapping, flags, the bytes
around it), then "in-dd STRING N" for every STRING.
"""
import os
import re
import sys

CHUNK = 16 << 20
SKIP_OVER = 4 << 30


def mappings(pid):
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$",
                         line)
            if m:
                cur = {"lo": int(m[1], 16), "hi": int(m[2], 16),
                       "perm": m[3], "name": m[4] or "[anon]", "flags": []}
                out.append(cur)
            elif line.startswith("VmFlags:") and cur is not None:
                cur["flags"] = line.split(":", 1)[1].split()
    return out


def scan(pid, needles, skipped):
    """[(needle, address, mapping, context)]; appends to skipped the
    mappings not scanned"""
    hits, longest = [], max(len(n) for n in needles)
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for m in mappings(pid):
            size = m["hi"] - m["lo"]
            if not m["perm"].startswith("r"):
                continue
            if size > SKIP_OVER:
                print("SKIP - memscan: %x-%x %s (%d GiB) not scanned: over "
                      "4 GiB (ASan's shadow)" % (m["lo"], m["hi"], m["name"],
                                                 size >> 30), file=sys.stderr)
                skipped.append(m)
                continue
            prev = b""
            for off in range(0, size, CHUNK):
                try:
                    mem.seek(m["lo"] + off)
                    data = mem.read(min(CHUNK, size - off))
                except OSError:
                    if m["name"] not in ("[vvar]", "[vvar_vclock]",
                                         "[vsyscall]"):
                        print("unreadable %x-%x %s" % (m["lo"], m["hi"],
                              m["name"]))
                    break
                buf = prev + data
                base = m["lo"] + off - len(prev)
                for n in needles:
                    i = buf.find(n)
                    while i >= 0:
                        # a hit wholly inside prev was found last round
                        if i + len(n) > len(prev):
                            hits.append((n, base + i, m,
                                         buf[max(0, i - 16):i + len(n) + 16]))
                        i = buf.find(n, i + 1)
                prev = data[-(longest - 1):] if longest > 1 else b""
    return hits


def main(argv):
    if len(argv) < 4 or argv[2] not in ("--outside-dd", "--nowhere", "--flags"):
        print(__doc__, file=sys.stderr)
        return 2
    pid, mode = int(argv[1]), argv[2]
    needles = [a.encode() for a in argv[3:]]
    skipped = []
    hits = scan(pid, needles, skipped)
    allowed = "bigmap" in os.environ.get("TS_ALLOW_SKIP", "").split(",")
    short = 3 if skipped and not allowed else 0
    if short:
        print("memscan: %d mappings not scanned, and TS_ALLOW_SKIP does not "
              "allow 'bigmap'" % len(skipped), file=sys.stderr)
    bad = 0
    for n, addr, m, ctx in hits:
        dd = "dd" in m["flags"]
        if mode == "--flags":
            print("%x-%x %s" % (m["lo"], m["hi"], " ".join(m["flags"])))
            continue
        wrong = mode == "--nowhere" or not dd
        bad += wrong
        print("%s %s at %x in %x-%x %s %s (%d bytes) VmFlags: %s; around: %r"
              % ("HIT" if wrong else "hit", n.decode(), addr, m["lo"],
                 m["hi"], m["perm"], m["name"], m["hi"] - m["lo"],
                 " ".join(m["flags"]), ctx))
    if mode == "--flags":
        return short
    for n in needles:
        print("in-dd %s %d" % (n.decode(), sum(1 for h in hits if h[0] == n
                                              and "dd" in h[2]["flags"])))
    return 1 if bad else short


if __name__ == "__main__":
    sys.exit(main(sys.argv))
