# reaper.py STATUSFILE ARGSFILE: runs a command that forks a daemon
# (ticketfs without -f, mount(8)) as a child subreaper, so that the daemon
# stays its child after the command returns: writes the command's exit
# status to fd 3 as soon as it returns, then waits for every descendant
# and writes "PID STATUS" for each to STATUSFILE (STATUS 128+N for signal
# N), and "done" when none is left.  The command's words are read from
# ARGSFILE, NUL-terminated, so that no pgrep for the daemon's command line
# finds this process too.
import ctypes, os, subprocess, sys

PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("reaper.py: prctl: " + os.strerror(ctypes.get_errno()))
status_file = sys.argv[1]
with open(sys.argv[2], "rb") as f:
    cmd = [w.decode() for w in f.read().split(b"\0")[:-1]]
rc = subprocess.call(cmd)
os.write(3, b"%d\n" % (rc if rc >= 0 else 128 - rc))
os.close(3)
with open(status_file, "a") as out:
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        code = os.waitstatus_to_exitcode(st)
        out.write("%d %d\n" % (pid, code if code >= 0 else 128 - code))
        out.flush()
    out.write("done\n")
