#!/bin/bash
# Issue 10 item 2: does intake stall readers?  Mounts an empty store, then
# drops BAD malformed intake files (random bytes under valid intake names)
# and GOOD valid tickets (made by `ticketctl submit --batch` in a staging
# copy of the intake area, then moved in) into STORE/intake/ at once, and
# measures a reader's stat(2) of MOUNT/tickets (its attributes are
# invalidated each time a ticket is taken in, so every stat reaches the
# daemon) and of one ticket's status file, one every STAT_MS (2) ms, while
# intake drains.  Latency counts from when each stat was due (so a stall
# of S seconds counts as every stat it held up, not as one slow stat);
# "raw" is the latency of the stats actually issued.  Prints p50 / p99 /
# max, the drain time and what is left in intake/rejected/.  A benchmark,
# not a test: nothing here passes or fails.
#
# Usage (root): [STAT_MS=2] bench/intake_stall.sh [BIN] [BAD] [GOOD]
#   BIN defaults to build/bin; BAD and GOOD to 20000.
set -eu
cd "$(dirname "$0")/.."
BIN=$(cd "${1:-build/bin}" && pwd)
BAD=${2:-20000}
GOOD=${3:-20000}
W=$(mktemp -d /var/tmp/ticketfs-stall.XXXXXX)
chmod 755 "$W"
cleanup() {
	mountpoint -q "$W/mnt" 2>/dev/null &&
		{ fusermount3 -u "$W/mnt" 2>/dev/null || umount -l "$W/mnt"; }
	# The daemon saves its snapshot after the unmount: let it finish.
	for i in $(seq 50); do rm -rf "$W" 2>/dev/null && break; sleep 0.2; done
}
trap cleanup EXIT
mkdir -p "$W/mnt" "$W/stage/intake" "$W/bad"
"$BIN/ticketctl" init "$W/store" "$W/key" >/dev/null
echo "0 reader" >> "$W/store/whitelist"
cp "$W/store/public.key" "$W/stage/"
ID=$(echo '{"username":"u","subject":"watched"}' | "$BIN/ticketctl" submit "$W/store")

# The valid ones, sealed ahead of time (not part of the measurement).
[ "$GOOD" -eq 0 ] || python3 -c '
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"username": "user%d" % i, "subject": "s%d" % i,
                      "email": "u%d@example.com" % i}))' "$GOOD" |
	"$BIN/ticketctl" submit --batch "$W/stage" >/dev/null
# The malformed ones: random bytes, names of the intake form.
python3 -c '
import os, sys
d = sys.argv[1]
for i in range(int(sys.argv[2])):
    name = "20260101-000000-%06d-%04x-t-20260101-000000-%06d-bad0" % (i, i % 65536, i)
    with open(os.path.join(d, name), "wb") as f:
        f.write(os.urandom(64 + i % 512))' "$W/bad" "$BAD"

"$BIN/ticketfs" "$W/store" "$W/mnt" -o key="$W/key"
stat "$W/mnt/tickets/$ID/status" >/dev/null

python3 - "$W" "$ID" "$BAD" "$GOOD" <<'EOF'
import os, sys, threading, time
w, tid, bad, good = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
gap = float(os.environ.get("STAT_MS", "2")) / 1000
intake = os.path.join(w, "store/intake")
paths = [os.path.join(w, "mnt/tickets"), os.path.join(w, "mnt/tickets", tid, "status")]
lat, stop = [], threading.Event()

raw = []

def reader():
    i, start = 0, time.monotonic()
    while not stop.is_set():
        due = start + i * gap
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        t0 = time.monotonic()
        os.stat(paths[i % 2])
        t1 = time.monotonic()
        raw.append(t1 - t0)
        # Every stat that fell due while this one was held up waited too.
        while start + i * gap <= t1:
            lat.append(t1 - (start + i * gap))
            i += 1

def waiting():
    return sum(1 for e in os.scandir(intake)
               if e.name != "rejected" and not e.name.startswith("."))

th = threading.Thread(target=reader)
th.start()
time.sleep(0.5)
t0 = time.monotonic()
# Both kinds arrive together, interleaved, as fast as rename allows.
srcs = [os.path.join(w, "bad", n) for n in sorted(os.listdir(os.path.join(w, "bad")))]
stg = os.path.join(w, "stage/intake")
srcs2 = [os.path.join(stg, n) for n in sorted(os.listdir(stg)) if not n.startswith(".")]
for i in range(max(len(srcs), len(srcs2))):
    for s in (srcs[i:i + 1] + srcs2[i:i + 1]):
        os.rename(s, os.path.join(intake, os.path.basename(s)))
t_in = time.monotonic() - t0
deadline = time.monotonic() + 1800
while waiting() > 0 and time.monotonic() < deadline:
    time.sleep(0.2)
drain = time.monotonic() - t0
time.sleep(0.5)
stop.set()
th.join()
lat.sort()
raw.sort()
ms = lambda q, v=lat: v[min(len(v) - 1, int(q * len(v)))] * 1000
tickets = len(os.listdir(paths[0]))
rej = [e for e in os.scandir(os.path.join(intake, "rejected"))]
print("bad=%d good=%d moved-in=%.1fs drained=%.1fs (left %d)" % (bad, good, t_in, drain, waiting()))
print("stat n=%d p50=%.2fms p99=%.2fms max=%.1fms (raw: n=%d p50=%.2fms p99=%.2fms)" %
      (len(lat), ms(0.50), ms(0.99), lat[-1] * 1000, len(raw), ms(0.50, raw), ms(0.99, raw)))
print("tickets=%d rejected=%d files, %.1f MiB" % (tickets, len(rej),
      sum(e.stat(follow_symlinks=False).st_size for e in rej) / 2**20))
EOF
