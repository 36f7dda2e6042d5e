#!/usr/bin/env python3
"""The benchmark's synthetic tickets, as `ticketctl submit --batch` JSON Lines.

Usage: bench/gen.py N > batch.  Deterministic (seeded): every run and every
contender sees the same tree.  Each ticket: a 60-byte subject, a 30 KB
description, username, email, mobile, confidential, one authorization.
"""
import json
import random
import sys

random.seed(1)
WORDS = ("the instance reboot network disk billing card password reset vpn dns "
         "latency timeout console customer urgent please thanks snapshot").split()


def text(n):
    out, length = [], 0
    while length < n:
        w = random.choice(WORDS)
        out.append(w)
        length += len(w) + 1
    return " ".join(out)


for i in range(int(sys.argv[1])):
    print(json.dumps({"username": "user%d" % i, "subject": text(60),
        "description": text(30000), "email": "user%d@example.com" % i,
        "mobile": "+86 138 %08d" % i, "confidential": "card 6222 %012d" % i,
        "authorizations": [{"account": "acc%d" % i, "password": text(20),
            "resource": "ecs-%d" % i, "expires": "2099-01-01T00:00:00Z"}]}))
