#!/usr/bin/env python3
"""status_race.py MODE ROOT SECONDS [IDS]: status moves racing cached reads.

MODE write: moves random tickets of ROOT (a mount's tickets/) forward
(open -> processing -> processed), a few ms apart, reading each back at
once (it must be the move).  MODE read / small: opens, reads (4 KiB or
2-byte read(2)s) and closes random tickets' status, which must be whole
(open, processing or processed, one newline) and never older than one the
same reader saw before.  IDS: a file of the tickets to use (else all of
ROOT); a ticket gone meanwhile (ENOENT) is skipped.  Prints its counts; exit 1 on any wrong read.
Used by test_status.sh (issue 15 item 9: status in the page cache).
"""
import os, sys, time, random
mode, root, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
ids = sorted(open(sys.argv[4]).read().split()) if len(sys.argv) > 4 else sorted(os.listdir(root))
order = {"open\n": 0, "processing\n": 1, "processed\n": 2}
end = time.time() + secs
if mode == "write":
    st = {i: order[open(f"{root}/{i}/status").read()] for i in ids}
    moves = 0
    while time.time() < end and any(v < 2 for v in st.values()):
        i = random.choice([k for k, v in st.items() if v < 2])
        nxt = st[i] + random.choice([1, 1, 2]) if st[i] == 0 else 2
        w = ["open", "processing", "processed"][min(nxt, 2)]
        try:
            with open(f"{root}/{i}/status", "w") as f:
                f.write(w + "\n")
        except FileNotFoundError:
            st[i] = 2
            continue
        st[i] = min(nxt, 2); moves += 1
        # read back at once
        try:
            with open(f"{root}/{i}/status") as f:
                got = f.read()
        except FileNotFoundError:
            continue
        if got != w + "\n":
            print("STALE readback", i, repr(got), w); sys.exit(1)
        time.sleep(random.random() * 0.005)
    print("writer moves", moves)
else:
    seen = {i: 0 for i in ids}
    n = bad = 0
    small = mode == "small"
    while time.time() < end:
        i = random.choice(ids)
        try:
            fd = os.open(f"{root}/{i}/status", os.O_RDONLY)
            try:
                data = b""
                while True:
                    b = os.read(fd, 2 if small else 4096)
                    if not b: break
                    data += b
            finally:
                os.close(fd)
        except FileNotFoundError:
            continue    # the ticket went (processed+8 s in test_status)
        v = data.decode()
        n += 1
        if v not in order:
            bad += 1; print("TORN", i, repr(v))
        elif order[v] < seen[i]:
            bad += 1; print("WENT BACK", i, repr(v), seen[i])
        else:
            seen[i] = order[v]
    print(mode, "reads", n, "bad", bad)
    sys.exit(1 if bad else 0)
