#!/bin/sh
# Installs what is missing, builds ticketfs, makes a demo store with a few
# realistic tickets, whitelists the user who ran it (via sudo) as an agent,
# mounts it and prints what to try.  Usage: sudo tools/demo.sh [DIR]
set -e
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "tools/demo.sh: run with sudo (packages, FUSE allow_other)"; exit 2; }
sh tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
BIN=$(pwd)/build/bin
DIR=${1:-/tmp/ticketfs-demo}
USERNAME=${SUDO_USER:-$(logname 2>/dev/null || id -un)}
USERID=$(id -u "$USERNAME")

if mountpoint -q "$DIR/mnt" 2>/dev/null; then fusermount3 -u "$DIR/mnt"; fi
rm -rf "$DIR"
mkdir -p "$DIR/mnt"
chmod 755 "$DIR"
"$BIN/ticketctl" init "$DIR/store" "$DIR/secret.key" >/dev/null
printf '%s agent   # %s, who ran the demo\n' "$USERID" "$USERNAME" >> "$DIR/store/whitelist"

"$BIN/ticketctl" submit --batch "$DIR/store" >/dev/null <<'JSON'
{"username":"alice","subject":"ECS instance unreachable after reboot","description":"Since this morning's reboot ecs-1234 answers no ping and no SSH.\nSecurity group unchanged.","email":"alice@example.com","mobile":"+86 138 0000 0000","authorizations":[{"account":"alice-cloud","password":"Tr0ub4dor&3","resource":"ecs-1234","expires":"2099-12-01T00:00:00Z"}]}
{"username":"bob","subject":"Invoice charged twice","description":"My card was charged twice for the November invoice.","email":"bob@example.org","confidential":"card 6222 0200 1234 5678, exp 09/29"}
{"username":"carol","subject":"Database password reset","description":"Please reset the admin password of rds-88.","mobile":"+44 7700 900123","authorizations":[{"account":"carol-admin","password":"correct horse battery","resource":"rds-88","expires":"2099-06-30T18:00:00+01:00"}]}
JSON
id=$(ls "$DIR/store/intake" | grep -- '-t-' | head -1 | sed 's/.*-t-//')
printf 'Hello, any news on this? It is urgent.\n' | "$BIN/ticketctl" message "$DIR/store" "$id" >/dev/null

"$BIN/ticketfs" "$DIR/store" "$DIR/mnt" -o key="$DIR/secret.key"
cat <<EOF2

ticketfs demo mounted at $DIR/mnt (store $DIR/store, key $DIR/secret.key).
$USERNAME (uid $USERID) is whitelisted as an agent.  Try, as $USERNAME:

  ls -l $DIR/mnt/tickets
  cat $DIR/mnt/tickets/*/subject
  grep -r reboot $DIR/mnt/tickets
  cat $DIR/mnt/tickets/$id/messages/*
  cat $DIR/mnt/tickets/*/authorizations/*/password

and as root, who holds the store but is not on the whitelist:

  grep -r alice $DIR/store             # nothing: every field is sealed
  cat $DIR/mnt/tickets/$id/email   # Permission denied

A new ticket shows up within a second:

  echo '{"username":"dan","subject":"VPN down"}' | $BIN/ticketctl submit $DIR/store

Unmount with: sudo fusermount3 -u $DIR/mnt
EOF2
