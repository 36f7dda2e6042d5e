# stall.py TID: stops one thread of a process, that thread only (ptrace
# is per thread: the process's other threads run on), until stdin closes
# or the thread dies; prints "stopped" once it is.  test_hang.sh stops the
# daemon's FUSE loop thread with it, so requests queue unanswered, as they
# do when that thread is killed.  Root (the daemon is not dumpable).
import ctypes, os, sys

PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
WALL = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                        ctypes.c_void_p]
tid = int(sys.argv[1])
if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0 or \
   libc.ptrace(PTRACE_INTERRUPT, tid, None, None) != 0:
    sys.exit("stall.py: ptrace %d: %s" % (tid, os.strerror(ctypes.get_errno())))
os.waitpid(tid, WALL)
print("stopped", flush=True)
sys.stdin.read()
