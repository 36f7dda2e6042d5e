#!/bin/bash
# Installed like any filesystem (issue 15, items 1-2): `cmake --install`
# into a DESTDIR puts both programs and the four manual pages under
# PREFIX; each page renders with `man -l` and lints clean (mandoc -T lint,
# groff -ww); --help and the manuals name the same options
# (man_options.py); then, with the installed programs, `mount -t
# fuse.ticketfs`, a private fstab's `noauto` line and `mount MOUNT`, its
# `setuid=` variant (the daemon as a service user), and `umount MOUNT`,
# through mount(8) and mount.fuse3, a listed user reading a ticket each
# time; and the systemd unit of mount.example passes
# `systemd-analyze verify`.
#
# mount(8) runs mount.fuse3 without PATH, so the shell mount.fuse3 starts
# finds ticketfs only in its default path (/usr/local/bin, ...).  The test
# therefore runs in a mount namespace of its own (unshare -m, private
# propagation: nothing of it reaches the host), where the DESTDIR's
# /usr/local is bound over /usr/local: the installed prefix is where it
# would be after a real `cmake --install build`.  /etc/fuse.conf is
# replaced the same way for the setuid= mount.
# Usage: test_install.sh BUILD/bin.  Run as root.
if [ -z "${TS_INSTALL_NS:-}" ]; then
	TS_INSTALL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$BIN")
SRC=$(cd "$LIBDIR/../.." && pwd)
DEST=$WORK/dest
PAGES="man8/ticketfs.8 man1/ticketctl.1 man5/ticketfs-whitelist.5 man5/ticketfs-policy.5"

# 1. cmake --install into a DESTDIR, and another --prefix.
if DESTDIR=$DEST cmake --install "$BUILD" --prefix /usr/local > "$WORK/install.out" 2>&1; then
	pass "cmake --install with DESTDIR"
else
	fail "cmake --install with DESTDIR: $(tail -n 3 "$WORK/install.out")"
fi
for f in bin/ticketfs bin/ticketctl; do
	check "installs $f, executable" test -x "$DEST/usr/local/$f"
done
for p in $PAGES; do
	check "installs share/man/$p" test -s "$DEST/usr/local/share/man/$p"
done
check "the pages carry the version" grep -q "^\.Os ticketfs $("$BIN/ticketctl" --version | awk '{ print $2 }')\$" \
	"$DEST/usr/local/share/man/man8/ticketfs.8"
cmake --install "$BUILD" --prefix "$WORK/opt" > "$WORK/opt.out" 2>&1
check "--prefix elsewhere: installed there" test -x "$WORK/opt/bin/ticketfs" -a -s "$WORK/opt/share/man/man1/ticketctl.1"
check "--prefix elsewhere: it says mount(8) will not find ticketfs there" \
	grep -q "link $WORK/opt/bin/ticketfs into /usr/local/bin" "$WORK/opt.out"
check "the default prefix: no such note" sh -c "! grep -q 'link .* into' '$WORK/install.out'"

# 2. The pages: rendered by man -l without a warning, and lint clean.
for p in $PAGES; do
	f=$DEST/usr/local/share/man/$p
	name=$(basename "$p")
	up=$(echo "${name%.*}(${name##*.})" | tr a-z A-Z)
	out=$(MANWIDTH=80 LANG=C.UTF-8 man --warnings=w -l "$f" 2>"$WORK/man.err")
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$WORK/man.err" ] && [[ $out == "$up"* ]] &&
	   [[ $out == *NAME*DESCRIPTION*"SEE ALSO"* ]]; then
		pass "man -l $name renders, no warning"
	else
		fail "man -l $name renders, no warning (exit $rc: $(head -n 3 "$WORK/man.err"))"
	fi
	out=$(mandoc -T lint -W warning "$f" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then pass "mandoc -T lint $name: clean"
	else fail "mandoc -T lint $name: $out"; fi
	out=$(groff -ww -z -mandoc "$f" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then pass "groff -ww -z $name: clean"
	else fail "groff -ww -z $name: $out"; fi
done
# The lint finds what it should: a page with an unknown macro and a
# section out of place.
sed -e 's/^\.Sh SEE ALSO/.Sh SEE ALSO\n.Xo/' -e 's/^\.Nd /.Zz /' \
	"$DEST/usr/local/share/man/man8/ticketfs.8" > "$WORK/bad.8"
check "(mandoc -T lint flags a damaged page)" sh -c "! mandoc -T lint -W warning '$WORK/bad.8' >/dev/null 2>&1"
check "(groff -ww flags it too)" sh -c "groff -ww -z -mandoc '$WORK/bad.8' 2>&1 | grep -q ."

# 3. --help and the manuals name the same options.
if out=$(python3 "$LIBDIR/man_options.py" "$DEST/usr/local/bin" "$DEST/usr/local/share/man" 2>&1); then
	pass "--help and the manuals name the same options (${out##*: })"
else
	fail "--help and the manuals name the same options: $out"
fi

# The comparison finds what it should: an option left out of ticketfs(8),
# a command misnamed in ticketctl(1), a ticketctl option named only there.
cp -r "$DEST/usr/local/share/man" "$WORK/badman"
sed -i '/^\.It Fl o Cm fss /d' "$WORK/badman/man8/ticketfs.8"
sed -i -e 's/^\.It Cm wait /.It Cm wiat /' \
	-e 's/^\.It Cm revoke Oo Fl -client-ip Ar addr Oc/& Op Fl -force/' "$WORK/badman/man1/ticketctl.1"
out=$(python3 "$LIBDIR/man_options.py" "$DEST/usr/local/bin" "$WORK/badman" 2>&1)
rc=$?
if [ $rc -eq 1 ] && [[ $out == *"ticketfs: -o fss is in --help, not in the manual"* ]] &&
   [[ $out == *"ticketctl wait: in --help, not in the manual"* ]] &&
   [[ $out == *"ticketctl wiat: in the manual, not in --help"* ]] &&
   [[ $out == *"ticketctl revoke: --force is in the manual, not in --help"* ]]; then
	pass "(the comparison finds a missing option, a wrong command, an extra option)"
else
	fail "(the comparison finds a missing option, a wrong command, an extra option): exit $rc: $out"
fi

# From here on the installed prefix is /usr/local: only ever in a mount
# namespace of our own.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	fail "a mount namespace of our own (unshare -m)"
	finish
fi
if ! mount --bind "$DEST/usr/local" /usr/local; then
	fail "bind the installed prefix over /usr/local (a namespace of our own)"
	finish
fi
TICKETFS=/usr/local/bin/ticketfs
TICKETCTL=/usr/local/bin/ticketctl
check "man finds the installed pages by name" test "$(man -w ticketfs-policy)" = /usr/local/share/man/man5/ticketfs-policy.5

# 4. mount(8): -t fuse.ticketfs, fstab with noauto, umount.
new_store
ID=$(echo '{"username":"dave","subject":"disk full","email":"dave@example.com"}' | "$TICKETCTL" submit "$STORE")
# has_opts MOUNT OPT...: the mount table shows each OPT for MOUNT.
has_opts() {
	local o all
	all=,$(findmnt -n -o OPTIONS --mountpoint "$1"),
	shift
	for o in "$@"; do [[ $all == *",$o,"* ]] || return 1; done
}
# mounted_by_mount WHAT: the checks after a mount(8) that exited 0.
mounted_by_mount() {
	check "$1: mounted on return" mountpoint -q "$MNT"
	expect_out $AGENT "disk full" "$1: a listed user reads the ticket" cat "$MNT/tickets/$ID/subject"
	expect_out $AGENT "dave@example.com" "$1: and a sealed field" cat "$MNT/tickets/$ID/email"
	expect_err $STRANGER "Permission denied" "$1: an unlisted user is refused" cat "$MNT/tickets/$ID/subject"
	check "$1: type fuse.ticketfs, the store as the source" test "$(findmnt -n -o SOURCE,FSTYPE --target "$MNT")" = "ticketfs:$STORE fuse.ticketfs"
	check "$1: nosuid,nodev though mount.fuse3 asked for suid,dev" has_opts "$MNT" nosuid nodev
}
# unmounted_by_umount WHAT: umount MOUNT, then the daemon exits 0.
unmounted_by_umount() {
	check "$1: umount MOUNT unmounts" umount "$MNT"
	check "$1: (gone from the mount table)" sh -c "! mountpoint -q '$MNT'"
	daemon_exit "$1"
	check "$1: the store is free again" "$TICKETCTL" wait "$STORE" --timeout 5
}

# The environment mount(8) gives its helper: no PATH, so the shell's
# default path; the installed ticketfs is on it, the build's is not.
if forked /usr/bin/env PATH=/nonexistent /bin/mount -t fuse.ticketfs "$STORE" "$MNT" -o key="$KEY"; then
	pass "mount -t fuse.ticketfs STORE MOUNT -o key=KEY"
	mounted_by_mount "mount -t"
	unmounted_by_umount "mount -t"
else
	fail "mount -t fuse.ticketfs STORE MOUNT -o key=KEY"
fi

cat > "$WORK/fstab" <<EOF
# a private fstab (mount -T)
$STORE  $MNT  fuse.ticketfs  noauto,nofail,_netdev,key=$KEY,cache=4  0 0
EOF
check "mount -a skips the noauto line" mount -T "$WORK/fstab" -a
check "(nothing mounted)" sh -c "! mountpoint -q '$MNT'"
if forked mount -T "$WORK/fstab" "$MNT"; then
	pass "an fstab line with noauto, then mount MOUNT"
	mounted_by_mount "fstab"
	unmounted_by_umount "fstab"
else
	fail "an fstab line with noauto, then mount MOUNT"
fi
# Options ticketfs does not know fail the mount, with ticketfs's word.
echo "$STORE  $MNT  fuse.ticketfs  noauto,key=$KEY,frobnicate  0 0" > "$WORK/fstab.bad"
out=$(mount -T "$WORK/fstab.bad" "$MNT" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *frobnicate* ]] && ! mountpoint -q "$MNT"; then
	pass "an unknown option in fstab fails the mount, naming it"
else
	fail "an unknown option in fstab fails the mount, naming it (exit $rc: $out)"
fi
echo "$STORE  $MNT  fuse.ticketfs  noauto,key=$WORK/nokey  0 0" > "$WORK/fstab.bad"
out=$(mount -T "$WORK/fstab.bad" "$MNT" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *"$WORK/nokey"* ]] && ! mountpoint -q "$MNT"; then
	pass "a missing key fails the mount, naming it"
else
	fail "a missing key fails the mount, naming it (exit $rc: $out)"
fi

# setuid=USER: mount.fuse3 runs the daemon as a service user, who owns
# the store, the key and the mount point; fusermount3 mounts for it, and
# allow_other needs user_allow_other in /etc/fuse.conf (ours, bound over
# the host's in this namespace).
SVC=nobody
SVCDIR=$WORK/svc
EXTRA_CLEANUP='mountpoint -q "$SVCDIR/mnt" && umount -l "$SVCDIR/mnt"'
mkdir -p "$SVCDIR/mnt" "$SVCDIR/etc"
"$TICKETCTL" init "$SVCDIR/store" "$SVCDIR/etc/secret.key" >/dev/null
cp "$WHITELIST" "$SVCDIR/store/whitelist"
SID=$(echo '{"username":"erin","subject":"vpn down"}' | "$TICKETCTL" submit "$SVCDIR/store")
chown -R "$SVC:" "$SVCDIR"
printf 'user_allow_other\n' > "$WORK/fuse.conf"
mount --bind "$WORK/fuse.conf" /etc/fuse.conf
# A host's udev makes /dev/fuse 0666; a container may leave it 0600, which
# no user but root opens: here, a 0666 node of the same device over it.
if [ "$(stat -c %a /dev/fuse)" != 666 ]; then
	mknod -m 666 "$WORK/fuse.dev" c 10 229 && mount --bind "$WORK/fuse.dev" /dev/fuse
fi
# The daemon's counters (ticketctl stats) go to /run/ticketfs only if it
# is the service user's, mode 0700 (mount.example: RuntimeDirectory= or
# tmpfiles.d): in this namespace, a tmpfs of the user's over the host's.
mkdir -p /run/ticketfs
mount -t tmpfs -o "mode=0700,uid=$(id -u $SVC),gid=$(id -g $SVC)" tmpfs /run/ticketfs
echo "$SVCDIR/store  $SVCDIR/mnt  fuse.ticketfs  noauto,setuid=$SVC,key=$SVCDIR/etc/secret.key  0 0" > "$WORK/fstab.svc"
if forked mount -T "$WORK/fstab.svc" "$SVCDIR/mnt"; then
	pass "fstab with setuid=$SVC: mount MOUNT"
	expect_out $READER "vpn down" "setuid=: a listed user reads the ticket" cat "$SVCDIR/mnt/tickets/$SID/subject"
	pid=$(pgrep -n -f "^ticketfs $SVCDIR/store ")
	check "setuid=: the daemon runs as $SVC" test "$(ps -o user= -p "${pid:-0}")" = "$SVC"
	check "setuid=: nosuid,nodev" has_opts "$SVCDIR/mnt" nosuid nodev
	check "setuid=: ticketctl stats (as root) shows the service user's daemon's counters" wait_within 3 sh -c \
		"'$TICKETCTL' stats '$SVCDIR/store' --json | jq -e '.mounted and .daemon.requests > 0' >/dev/null"
	check "setuid=: umount MOUNT unmounts" umount "$SVCDIR/mnt"
	daemon_exit "setuid="
	check "setuid=: the store is free again" "$TICKETCTL" wait "$SVCDIR/store" --timeout 5
else
	fail "fstab with setuid=$SVC: mount MOUNT"
fi

# 5. The systemd unit of mount.example: systemd-analyze verify (it
# checks the syntax, every setting's value, and that each Exec program
# exists: /usr/local/bin/ticketfs, ticketctl as installed).
sed -n '/^# \[Unit\]/,/^# WantedBy=/p' "$SRC/mount.example" | sed 's/^# \{0,1\}//' > "$WORK/ticketfs.service"
check "(the unit found in mount.example)" grep -q '^ExecStart=/usr/local/bin/ticketfs ' "$WORK/ticketfs.service"
out=$(systemd-analyze verify --man=no --recursive-errors=no "$WORK/ticketfs.service" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then pass "systemd-analyze verify: the unit of mount.example"
else fail "systemd-analyze verify: the unit of mount.example (exit $rc: $out)"; fi
sed 's/^Type=forking$/Type=forking   # a comment after a value/' "$WORK/ticketfs.service" > "$WORK/bad.service"
check "(verify refuses a comment after a value)" sh -c "! systemd-analyze verify --man=no --recursive-errors=no '$WORK/bad.service' >/dev/null 2>&1"
# None of the settings that give the service a mount namespace of its
# own (its mount would be invisible to the host) or imply
# NoNewPrivileges=yes for a User= service (fusermount3, setuid, could
# not mount): systemd.exec(5).
bad=$(grep -E -o '^(PrivateMounts|PrivateTmp|PrivateDevices|PrivateNetwork|PrivateIPC|PrivateUsers|ProtectSystem|ProtectHome|ProtectKernel[A-Za-z]*|ProtectControlGroups|ProtectClock|ProtectHostname|ProtectProc|ProcSubset|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|ExecPaths|NoExecPaths|BindPaths|BindReadOnlyPaths|TemporaryFileSystem|RootDirectory|RootImage|MountFlags|SystemCall[A-Za-z]*|RestrictAddressFamilies|RestrictNamespaces|RestrictRealtime|RestrictSUIDSGID|MemoryDenyWriteExecute|LockPersonality|DynamicUser)=' \
	"$WORK/ticketfs.service" | tr '\n' ' ')
bad=$bad$(grep -E -o '^NoNewPrivileges=(yes|true|on|1)' "$WORK/ticketfs.service")
check "the unit has no setting that hides the mount or blocks fusermount3 ($bad)" test -z "$bad"

finish
