# A Unix-socket proxy in front of a PostgreSQL socket that can go silent,
# as a network partition does: while FREEZE exists, nothing is forwarded
# either way (what a client sends is accepted by the kernel and never
# answered); when it goes, forwarding resumes.  New connections wait too.
#   python3 pg_blackhole.py LISTEN_SOCKET TARGET_SOCKET FREEZE
import os, selectors, socket, sys, time

listen_path, target, freeze = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    os.unlink(listen_path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen_path)
os.chmod(listen_path, 0o777)
srv.listen(64)
srv.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ, None)
peer = {}
while True:
    if os.path.exists(freeze):
        time.sleep(0.02)
        continue
    for key, _ in sel.select(0.05):
        s = key.fileobj
        if s is srv:
            c, _ = srv.accept()
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                u.connect(target)
            except OSError:
                c.close()
                continue
            peer[c], peer[u] = u, c
            sel.register(c, selectors.EVENT_READ, None)
            sel.register(u, selectors.EVENT_READ, None)
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        o = peer.get(s)
        if data and o is not None:
            try:
                o.sendall(data)
                continue
            except OSError:
                pass
        for x in (s, o):
            if x is not None and x in peer:
                sel.unregister(x)
                peer.pop(x, None)
                x.close()
