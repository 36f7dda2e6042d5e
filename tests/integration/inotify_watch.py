# inotify_watch.py SECONDS PATH...: watches each PATH for SECONDS and prints
# one line an event: "WATCHED-BASENAME NAME KINDS" (DELETE, DELETE_SELF,
# IGNORED, ATTRIB, MODIFY).  For test_backup's check of what a watcher sees
# at an expiry; Python's standard library has no inotify, so ctypes.
import ctypes, os, struct, sys, time, select
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
names = {}
for p in sys.argv[2:]:
    wd = libc.inotify_add_watch(fd, p.encode(), 0xfff)  # all events
    if wd < 0: print("watch failed", p, ctypes.get_errno()); continue
    names[wd] = p
end = time.time() + float(sys.argv[1])
seen = []
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if not r: continue
    buf = os.read(fd, 4096); i = 0
    while i < len(buf):
        wd, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i+16:i+16+ln].rstrip(b"\0").decode()
        i += 16 + ln
        kinds = [k for k, v in (("DELETE",0x200),("DELETE_SELF",0x400),("IGNORED",0x8000),("ATTRIB",4),("MODIFY",2)) if mask & v]
        print(os.path.basename(names.get(wd,"?")), name, ",".join(kinds) or hex(mask), flush=True)
