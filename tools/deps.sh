#!/bin/sh
# Installs what ticketfs needs to build, test and run on Debian 12.
# Idempotent: installs only what is missing.  Needs root.
# mount, man-db, groff-base, mandoc, systemd: test_install (mount(8) and
# mount.fuse3, man -l, the two linters, systemd-analyze verify; systemd
# as a package only: nothing here needs it running as PID 1).
set -e
PKGS="build-essential cmake pkg-config libfuse3-dev fuse3 libsodium-dev
      libxxhash-dev libjansson-dev check jq acl attr util-linux passwd gdb
      python3 rsync tar diffutils faketime
      libpq-dev postgresql
      mount man-db groff-base mandoc systemd"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Another apt (unattended-upgrades at boot): wait for its lock.
	lock="-o DPkg::Lock::Timeout=300"
	apt-get $lock update -qq
	apt-get $lock install -y -qq $missing >/dev/null
fi
