#!/usr/bin/env python3
"""Change-to-visible between two hosts of one shared store.

usage: cross.py MOUNT1/tickets MOUNT2/tickets IDS COUNT RATE

Writes COUNT messages (one a write, RATE writes a second) through MOUNT1,
each to the next ticket of IDS, and watches MOUNT2 for each: the time
from the write's return to the message's first successful stat there.
Prints "p50 X ms, p99 Y ms, max Z ms, missed M (of COUNT)"; a message not
seen within 5 s counts as missed."""
import os
import sys
import threading
import time

src, dst, ids_file, count, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
ids = [l.strip() for l in open(ids_file) if l.strip()]
pending = {}          # relative path -> time written
lock = threading.Lock()
lat = []
done_writing = threading.Event()
tag = "x%d" % os.getpid()


def writer():
    period = 1.0 / rate
    t_next = time.monotonic()
    for k in range(count):
        rel = "%s/messages/%s-%d" % (ids[k % len(ids)], tag, k)
        with open(os.path.join(src, rel), "w") as f:
            f.write("cross-host message %d\n" % k)
        with lock:
            pending[rel] = time.monotonic()
        t_next += period
        delay = t_next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    done_writing.set()


def watcher():
    while True:
        with lock:
            items = list(pending.items())
        if not items and done_writing.is_set():
            return
        now = time.monotonic()
        for rel, t0 in items:
            if os.path.exists(os.path.join(dst, rel)):
                lat.append((time.monotonic() - t0) * 1000)
                with lock:
                    del pending[rel]
            elif now - t0 > 5:
                with lock:
                    del pending[rel]
        time.sleep(0.002)


w = threading.Thread(target=writer)
r = threading.Thread(target=watcher)
w.start()
r.start()
w.join()
r.join()
lat.sort()
missed = count - len(lat)
if not lat:
    print("p50 - ms, p99 - ms, max - ms, missed %d (of %d)" % (missed, count))
else:
    def q(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))]
    print("p50 %.0f ms, p99 %.0f ms, max %.0f ms, missed %d (of %d)" % (q(0.5), q(0.99), lat[-1], missed, count))
