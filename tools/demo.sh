#!/bin/sh
# Installs what is missing, builds ticketfs, makes a demo store with a few
# realistic tickets, whitelists a non-root user as an agent (the user who
# ran sudo, else a user ticketfs-demo, made if missing), mounts it and
# prints what to try.  Every command it prints can be pasted as root.
#
# Usage, as root (su -c or sudo):  tools/demo.sh [DIR]   (default
# /tmp/ticketfs-demo).  Run again, it unmounts and replaces DIR.
#   TICKETFS_BIN=BUILD/bin  use the programs there: no install, no build
#   DEMO_USER=NAME          whitelist this (existing, non-root) user
set -e
cd "$(dirname "$0")/.."
die() { echo "tools/demo.sh: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] ||
	die "run as root (su -c or sudo): it installs packages and mounts for other users"
if [ -n "${TICKETFS_BIN:-}" ]; then
	BIN=$(cd "$TICKETFS_BIN" && pwd)
else
	sh tools/deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j"$(nproc)" >/dev/null
	BIN=$(pwd)/build/bin
fi
[ -x "$BIN/ticketfs" ] && [ -x "$BIN/ticketctl" ] || die "no ticketfs, ticketctl in $BIN"
DIR=$(realpath -m "${1:-/tmp/ticketfs-demo}")
case $DIR in *[!A-Za-z0-9/._-]*) die "$DIR: use a path of letters, digits and ._-/" ;; esac

# The demo's user: never root, whom the whitelist would let read it all.
USERNAME=${DEMO_USER:-}
if [ -z "$USERNAME" ] && [ -n "${SUDO_USER:-}" ] &&
   [ "$(id -u "$SUDO_USER" 2>/dev/null)" != 0 ]; then
	USERNAME=$SUDO_USER
fi
if [ -z "$USERNAME" ]; then
	USERNAME=ticketfs-demo
	if ! id -u "$USERNAME" >/dev/null 2>&1; then
		useradd -M -d /nonexistent -s /usr/sbin/nologin \
			-c "ticketfs demo" "$USERNAME"
		echo "made user $USERNAME for the demo (remove with: userdel $USERNAME)"
	fi
fi
USERID=$(id -u "$USERNAME") || die "no user $USERNAME"
GROUPID=$(id -g "$USERNAME")
[ "$USERID" -ne 0 ] || die "$USERNAME is root: give DEMO_USER a non-root user"

# Again: unmount the last demo and wait for its daemon to be done.
if mountpoint -q "$DIR/mnt" 2>/dev/null ||
   grep -qs " $DIR/mnt fuse" /proc/self/mounts; then
	fusermount3 -u "$DIR/mnt" || umount -l "$DIR/mnt"
fi
if [ -d "$DIR/store" ]; then
	"$BIN/ticketctl" wait "$DIR/store" --timeout 30 ||
		die "the last demo's daemon still holds $DIR/store"
fi
if [ -e "$DIR" ] && [ ! -e "$DIR/.ticketfs-demo" ] &&
   [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
	die "$DIR exists and is no demo directory: give another DIR"
fi
rm -rf "$DIR"
mkdir -p "$DIR/mnt"
: > "$DIR/.ticketfs-demo"
chmod 755 "$DIR"
setpriv --reuid="$USERID" --regid="$GROUPID" --clear-groups test -x "$DIR/mnt" ||
	die "$USERNAME cannot reach $DIR/mnt: give a DIR under directories all may enter"
"$BIN/ticketctl" init "$DIR/store" "$DIR/secret.key" >/dev/null
# A uid, no name: the store's plain files hold no name of a person.
printf '%s agent   # the demo user\n' "$USERID" >> "$DIR/store/whitelist"

"$BIN/ticketctl" submit --batch "$DIR/store" >/dev/null <<'JSON'
{"username":"alice","subject":"ECS instance unreachable after reboot","description":"Since this morning's reboot ecs-1234 answers no ping and no SSH.\nSecurity group unchanged.","email":"alice@example.com","mobile":"+86 138 0000 0000","authorizations":[{"account":"alice-cloud","password":"Tr0ub4dor&3","resource":"ecs-1234","expires":"2099-12-01T00:00:00Z"}]}
{"username":"bob","subject":"Invoice charged twice","description":"My card was charged twice for the November invoice.","email":"bob@example.org","confidential":"card 6222 0200 1234 5678, exp 09/29"}
{"username":"carol","subject":"Database password reset","description":"Please reset the admin password of rds-88.","mobile":"+44 7700 900123","authorizations":[{"account":"carol-admin","password":"correct horse battery","resource":"rds-88","expires":"2099-06-30T18:00:00+01:00"}]}
JSON
id=$(ls "$DIR/store/intake" | grep -- '-t-' | head -1 | sed 's/.*-t-//')
printf 'Hello, any news on this? It is urgent.\n' | "$BIN/ticketctl" message "$DIR/store" "$id" >/dev/null

"$BIN/ticketfs" "$DIR/store" "$DIR/mnt" -o key="$DIR/secret.key"
SU="su -s /bin/sh $USERNAME -c"
cat <<EOF

ticketfs demo mounted at $DIR/mnt (store $DIR/store, key $DIR/secret.key).
$USERNAME (uid $USERID) is whitelisted as an agent.  Act as $USERNAME with
  setpriv --reuid=$USERID --regid=$GROUPID --clear-groups sh -c 'COMMAND'
or
  $SU 'COMMAND'
(in $USERNAME's own shell, COMMAND alone).  Try, as root:

  $SU 'ls -l $DIR/mnt/tickets'
  $SU 'cat $DIR/mnt/tickets/*/subject'
  $SU 'grep -r reboot $DIR/mnt/tickets'
  $SU 'cat $DIR/mnt/tickets/$id/messages/*'
  setpriv --reuid=$USERID --regid=$GROUPID --clear-groups sh -c 'cat $DIR/mnt/tickets/*/authorizations/*/password'

Root holds the store but is not on the whitelist:

  grep -r alice $DIR/store    # finds nothing: every field is sealed
  cat $DIR/mnt/tickets/$id/email    # Permission denied

A new ticket shows up within a second:

  echo '{"username":"dan","subject":"VPN down"}' | $BIN/ticketctl submit $DIR/store
  sleep 1; $SU 'grep -l "VPN down" $DIR/mnt/tickets/*/subject'

Unmount, as root, and wait until the daemon is done with the store:

  fusermount3 -u $DIR/mnt && $BIN/ticketctl wait $DIR/store
EOF
