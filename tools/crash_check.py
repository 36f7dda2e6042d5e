#!/usr/bin/env python3
"""The checks behind tools/crash.sh: what must hold after kill -9.

  crash_check.py gen TAG...
      one ticket a line (JSON Lines for `ticketctl submit --batch`), each
      field's value derived from TAG, so the checks know what to expect
  crash_check.py writes DIR MNT [ITER...]
      after a kill of the daemon under the writers: DIR/tickets holds
      "ID TAG" lines, DIR/logs/iN-wW.log each writer's log (S = started,
      A = acknowledged, F = failed), DIR/src/NAME each message's text.
      Only the logs of the given iterations (all without ITER).
  crash_check.py batch MNT JSONL IDS KNOWN
      after a killed `submit --batch`: every id it printed (IDS) is
      visible and whole; every visible ticket not in KNOWN is one of JSONL's
      lines, whole, and only once.

Runs as the agent uid: it reads the mount.  Prints one line per problem and
a last line "checked ..." with counts; exit 1 if any problem.
"""
import errno
import json
import os
import sys

STATUS = ("open", "processing", "processed")
FIELDS = {"username": "u", "subject": "s", "description": "d",
          "email": "e", "mobile": "m", "confidential": "c"}
AUTHS = ("a1", "a2", "a3")
AFIELDS = {"account": "acc", "password": "pw", "resource": "res"}
# What the default policy removes when a ticket is processed.
BY_PROCESSED = ("email", "mobile", "confidential")

problems = []


def problem(text):
    problems.append(text)
    print("PROBLEM: " + text)


def ticket_json(tag):
    t = {f: "%s-%s" % (p, tag) for f, p in FIELDS.items()}
    t["email"] = "e-%s@example.com" % tag
    t["authorizations"] = [
        dict({f: "%s-%s-%s" % (p, a, tag) for f, p in AFIELDS.items()},
             expires="2099-01-01T00:00:00Z") for a in AUTHS]
    return t


def expected_files(tag):
    """Relative path -> content of every file of a fresh ticket."""
    t = ticket_json(tag)
    out = {f: t[f] + "\n" for f in FIELDS}
    for a, auth in zip(AUTHS, t["authorizations"]):
        for f in AFIELDS:
            out["authorizations/%s/%s" % (a, f)] = auth[f] + "\n"
        out["authorizations/%s/expires" % a] = "2099-01-01T00:00:00Z\n"
    return out


def read(path):
    """bytes, or None if absent; other errors are problems."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        problem("%s: %s" % (path, e.strerror))
        return b"<unreadable>"


def exists(path):
    try:
        os.lstat(path)
        return True
    except FileNotFoundError:
        return False


def check_whole(path, want, what):
    """The file is absent or holds exactly want (never a part of it)."""
    got = read(path)
    if got is not None and got != want:
        problem("%s: %s holds %d bytes, not its %d (a partial or wrong "
                "content)" % (what, path, len(got), len(want)))
    return got is not None


def check_present(path, want, what):
    got = read(path)
    if got is None:
        problem("%s: %s is missing" % (what, path))
    elif got != want:
        problem("%s: %s holds %d bytes that differ from the %d expected"
                % (what, path, len(got), len(want)))


def check_absent(path, what):
    if exists(path):
        problem("%s: %s is still there" % (what, path))


def cmd_gen(tags):
    for tag in tags:
        print(json.dumps(ticket_json(tag)))


def cmd_writes(d, mnt, iters):
    tags = {}
    with open(os.path.join(d, "tickets")) as f:
        for line in f:
            tid, tag = line.split()
            tags[tid] = tag
    logs = sorted(os.listdir(os.path.join(d, "logs")))
    if iters:
        logs = [l for l in logs if l.split("-")[0][1:] in iters]
    # Per ticket: status acknowledged / started (indexes), and per item
    # (message, field, authorization) what happened to it, in log order.
    st_ack, st_start, msgs, fields, auths = {}, {}, {}, {}, {}
    seen = set()
    n = {"acked": 0, "started": 0, "msg": 0, "rm": 0, "status": 0}
    for log in logs:
        with open(os.path.join(d, "logs", log)) as f:
            for line in f:
                parts = line.split(" : ")[0].split()
                if len(parts) < 4:
                    continue
                kind, op, tid, arg = parts[:4]
                if kind == "F":
                    continue
                seen.add(tid)
                if kind == "A":
                    n["acked"] += 1
                    n[{"msg": "msg", "status": "status"}.get(op, "rm")] += 1
                else:
                    n["started"] += 1
                if op == "msg":
                    msgs[(tid, arg)] = "acked" if kind == "A" else "started"
                elif op == "rmmsg":
                    msgs[(tid, arg)] = "removed" if kind == "A" else "removing"
                elif op == "rmfield":
                    fields[(tid, arg)] = "removed" if kind == "A" else "removing"
                elif op == "rmauth":
                    auths[(tid, arg)] = "removed" if kind == "A" else "removing"
                elif op == "status":
                    i = STATUS.index(arg)
                    table = st_ack if kind == "A" else st_start
                    table[tid] = max(table.get(tid, 0), i)
    for tid in sorted(seen):
        tag = tags.get(tid)
        if tag is None:
            problem("ticket %s is in a log but not in the tickets file" % tid)
            continue
        T = os.path.join(mnt, "tickets", tid)
        if not exists(T):
            problem("ticket %s (%s) is gone" % (tid, tag))
            continue
        want = expected_files(tag)
        ack = st_ack.get(tid, 0)
        started = max(st_start.get(tid, 0), ack)
        got = (read(os.path.join(T, "status")) or b"").decode().strip()
        if got not in STATUS:
            problem("ticket %s: status reads %r" % (tid, got))
        elif STATUS.index(got) < ack:
            problem("ticket %s: status %s, but %s was acknowledged"
                    % (tid, got, STATUS[ack]))
        elif STATUS.index(got) > started:
            problem("ticket %s: status %s, but only %s was ever written"
                    % (tid, got, STATUS[started]))
        # Fields: removed ones are gone; the others whole, or gone if the
        # policy may have taken them (processed started).
        for f in FIELDS:
            path = os.path.join(T, f)
            state = fields.get((tid, f))
            if state == "removed" or (f in BY_PROCESSED and ack == 2):
                check_absent(path, "field removed (%s)" % (state or
                             "processed acknowledged"))
            elif state == "removing" or (f in BY_PROCESSED and started == 2):
                check_whole(path, want[f].encode(), "field")
            else:
                check_present(path, want[f].encode(), "field")
        for a in AUTHS:
            base = os.path.join(T, "authorizations", a)
            state = auths.get((tid, a))
            if state == "removed" or ack == 2:
                check_absent(base, "authorization removed (%s)" % (state or
                             "processed acknowledged"))
                continue
            for f in list(AFIELDS) + ["expires"]:
                rel = "authorizations/%s/%s" % (a, f)
                path = os.path.join(T, rel)
                if state == "removing" or started == 2:
                    check_whole(path, want[rel].encode(), "auth field")
                else:
                    check_present(path, want[rel].encode(), "auth field")
        # Messages: nothing but what a writer started, each whole.
        mine = {name: s for (t, name), s in msgs.items() if t == tid}
        try:
            listed = os.listdir(os.path.join(T, "messages"))
        except OSError as e:
            problem("ticket %s: messages/: %s" % (tid, e.strerror))
            listed = []
        for name in listed:
            if name not in mine:
                problem("ticket %s: unknown message %s" % (tid, name))
        for name, state in mine.items():
            path = os.path.join(T, "messages", name)
            with open(os.path.join(d, "src", name), "rb") as f:
                text = f.read()
            if state == "acked":
                check_present(path, text, "acknowledged message")
            elif state == "removed":
                check_absent(path, "acknowledged removal")
            else:	# started, or its removal started: absent or whole
                check_whole(path, text, "unacknowledged message")
    print("checked %d acknowledged (%d messages, %d removals, %d status "
          "moves), %d started, %d tickets"
          % (n["acked"], n["msg"], n["rm"], n["status"], n["started"],
             len(seen)))


def check_ticket(T, tag, what):
    for rel, content in expected_files(tag).items():
        check_present(os.path.join(T, rel), content.encode(), what)
    if os.listdir(os.path.join(T, "messages")):
        problem("%s: %s has messages" % (what, T))


def cmd_batch(mnt, jsonl, ids_file, known_file):
    tags = set()
    with open(jsonl) as f:
        for line in f:
            tags.add(json.loads(line)["username"][2:])
    with open(ids_file) as f:
        printed = f.read().split()
    known = set()
    if os.path.exists(known_file):
        with open(known_file) as f:
            known = set(f.read().split())
    listed = set(os.listdir(os.path.join(mnt, "tickets")))
    for tid in printed:
        if tid not in listed:
            problem("submit printed %s, but it is not in the mount" % tid)
    new = sorted(listed - known)
    by_tag = {}
    for tid in new:
        T = os.path.join(mnt, "tickets", tid)
        u = read(os.path.join(T, "username"))
        tag = u.decode(errors="replace").strip()[2:] if u else None
        if tag not in tags:
            problem("ticket %s: username %r is not from this batch" % (tid, u))
            continue
        if tag in by_tag:
            problem("line %s became two tickets: %s and %s"
                    % (tag, by_tag[tag], tid))
        by_tag[tag] = tid
        check_ticket(T, tag, "batch ticket %s" % tid)
    print("checked %d printed ids, %d visible new tickets of %d submitted"
          % (len(printed), len(new), len(tags)))


def main(argv):
    if len(argv) >= 2 and argv[1] == "gen":
        cmd_gen(argv[2:])
        return 0
    if len(argv) >= 4 and argv[1] == "writes":
        cmd_writes(argv[2], argv[3], set(argv[4:]))
    elif len(argv) == 6 and argv[1] == "batch":
        cmd_batch(*argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
