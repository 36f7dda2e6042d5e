#!/bin/bash
# The daemon's memory after a `find` over a whole mount (issue 15, item 11),
# on a store that already exists (bench/scale.sh builds its own each run,
# and the first mount's take-in of 100,000 tickets takes minutes): mounts
# STORE (which has taken its intake in; the snapshot is what it reads),
# runs `find` over the mount as an agent (uid 61001, which the store's
# whitelist must list), then prints the RSS and where it is:
#   rss, hwm     VmRSS and VmHWM after the find (MB)
#   heap         the brk heap's resident part
#   anon-mmap    other anonymous mappings (large allocations, arenas of
#                other threads, thread stacks)
#   locked       locked pages (the value cache's arena and the key)
#   find-s       the find's time (the store's files in the page cache or
#                not, as they are)
#   nodes        entries find saw (+1, the root)
#   held         fuse_inode objects the find added (/proc/slabinfo): the
#                inodes the kernel holds of this mount, give or take what
#                other FUSE mounts did meanwhile
# and with -m, glibc's own count (malloc_info, through gdb): bytes taken
# from the system and bytes free inside them, over all arenas.
#
# Usage (root): bench/rss.sh [-b BINDIR] [-m] STORE KEY
#   BINDIR  where ticketfs is (default build/bin)
set -eu
cd "$(dirname "$0")/.."
BIN=$(pwd)/build/bin
MI=0
while getopts b:m o; do
	case $o in
	b) BIN=$(cd "$OPTARG" && pwd) ;;
	m) MI=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: bench/rss.sh [-b BINDIR] [-m] STORE KEY" >&2; exit 2; }
STORE=$(cd "$1" && pwd)
KEY=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
M=$(mktemp -d /var/tmp/ticketfs-rss.XXXXXX)
chmod 755 "$M"
cleanup() {
	mountpoint -q "$M" 2>/dev/null && fusermount3 -u "$M"
	rmdir "$M" 2>/dev/null || true
}
trap cleanup EXIT
"$BIN/ticketfs" "$STORE" "$M" -o key="$KEY"
pid=$(pgrep -nf "ticketfs $STORE $M")
kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/$pid/status; }
mount_kb=$(kb VmRSS)
slab() { awk '$1 == "fuse_inode" { print $2 }' /proc/slabinfo; }
slab0=$(slab)
t0=$(date +%s%N)
nodes=$(setpriv --reuid=61001 --regid=61001 --clear-groups find "$M" | wc -l)
t1=$(date +%s%N)
held=$(( $(slab) - slab0 ))
mb() { echo $(( ($1 + 512) / 1024 )); }
# smaps: the heap, other anonymous mappings, locked pages
read -r heap anon locked < <(awk '
	/^[0-9a-f]+-[0-9a-f]+ / { name = $6; inode = $5 }
	/^Rss:/ { if (name == "[heap]") h += $2;
	          else if (inode == 0 && name !~ /^\[(stack|vdso|vvar|vsyscall)\]$/) a += $2 }
	/^Locked:/ { l += $2 }
	END { print h + 0, a + 0, l + 0 }' /proc/$pid/smaps)
printf '%9s %7s %7s %7s %9s %7s %7s %9s %9s\n' mount-MB rss-MB hwm-MB heap-MB \
	anon-mmap locked find-s nodes held
printf '%9d %7d %7d %7d %9d %7d %7s %9d %9d\n' "$(mb "$mount_kb")" "$(mb "$(kb VmRSS)")" \
	"$(mb "$(kb VmHWM)")" "$(mb "$heap")" "$(mb "$anon")" "$(mb "$locked")" \
	"$(echo "scale=1; ($t1 - $t0) / 1000000000" | bc)" "$nodes" "$held"
if [ "$MI" = 1 ]; then
	x=$(mktemp /tmp/ticketfs-mi.XXXXXX)
	gdb -q -batch -p "$pid" \
		-ex "set \$f = (void *)fopen(\"$x\", \"w\")" \
		-ex 'call (int)malloc_info(0, $f)' \
		-ex 'call (int)fclose($f)' >/dev/null 2>&1
	# the totals after the last </heap>: over every arena
	awk '/<\/heap>/ { t = "" } { t = t $0 "\n" } END { printf "%s", t }' "$x" |
		sed -n 's/.*<total type="\([a-z]*\)" count="\([0-9]*\)" size="\([0-9]*\)".*/free \1: \2 chunks \3 bytes/p;
		        s/.*<system type="\([a-z]*\)" size="\([0-9]*\)".*/system \1: \2 bytes/p'
	echo "arenas: $(grep -c '<heap nr=' "$x")"
	rm -f "$x"
fi
fusermount3 -u "$M"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
