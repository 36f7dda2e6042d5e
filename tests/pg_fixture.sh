#!/bin/sh
# The shared-store tests' PostgreSQL: a private cluster in DIR, reachable
# only on a Unix socket in DIR (no TCP), trust authentication for the
# superuser postgres.  Started once before the tests that need it (ctest
# fixture "pg"), stopped after.  Run as root: initdb refuses root, so the
# cluster runs as the postgres user.
#   tests/pg_fixture.sh start DIR    initdb (if need be) and start
#   tests/pg_fixture.sh stop DIR     stop and remove DIR
#   tests/pg_fixture.sh restart DIR  pg_ctl restart (the fault tests)
#   tests/pg_fixture.sh stop-keep DIR    pg_ctl stop, DIR kept (the fault
#                                        tests: the database down a while)
#   tests/pg_fixture.sh start-again DIR  starts DIR's cluster again
# A test then connects with  postgresql:///DB?host=DIR&user=postgres
# TS_PG_FSYNC=on (the benchmark) keeps fsync on; tests run without it.
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg_fixture.sh start|stop|restart|stop-keep|start-again DIR}
dir=${2:?usage: pg_fixture.sh start|stop|restart|stop-keep|start-again DIR}
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
case $cmd in
start)
	if [ -f "$dir/data/postmaster.pid" ] &&
	   as_pg "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		exit 0
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	chown postgres:postgres "$dir"
	chmod 700 "$dir"
	as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust \
		-E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; exit 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 200
fsync = ${TS_PG_FSYNC:-off}
synchronous_commit = on
full_page_writes = ${TS_PG_FSYNC:-off}
CONF
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		>/dev/null || { cat "$dir/server.log"; exit 1; }
	# The directory itself must let every uid reach the socket (tests
	# connect as root; the socket is the cluster's access point).
	chmod 755 "$dir"
	;;
restart)
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-m fast restart >/dev/null
	;;
stop-keep)
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null
	;;
start-again)
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		start >/dev/null || { tail -n 20 "$dir/server.log"; exit 1; }
	;;
stop)
	if [ -d "$dir/data" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop \
			>/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "pg_fixture.sh: unknown command $cmd" >&2; exit 2 ;;
esac
