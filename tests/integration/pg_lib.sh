# Helpers for the shared-store tests, sourced after lib.sh: the private
# cluster of tests/pg_fixture.sh (ctest starts it; run by hand, this starts
# one of its own in $WORK and stops it at exit), one fresh database a test.
[ -n "${PG_LIB_SOURCED:-}" ] && return 0
PG_LIB_SOURCED=1
PG_FIXTURE=${TS_PG_FIXTURE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pg_fixture.sh}
if [ -z "${TS_PG_DIR:-}" ]; then
	TS_PG_DIR=/tmp/ticketfs-pg.$$
	sh "$PG_FIXTURE" start "$TS_PG_DIR" || { echo "pg_lib: no cluster"; exit 1; }
	EXTRA_CLEANUP="$EXTRA_CLEANUP; sh '$PG_FIXTURE' stop '$TS_PG_DIR'"
fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# pg_uri DB: the URI of database DB on the cluster, as the superuser.
pg_uri() {
	echo "postgresql:///$1?host=$TS_PG_DIR&user=postgres"
}

# psql_do DB SQL: runs SQL on DB, unaligned tuples only.
psql_do() {
	psql -X -q -At -v ON_ERROR_STOP=1 "$(pg_uri "$1")" -c "$2"
}

# pg_newdb: creates a fresh, empty database for this test: its name in
# $PGDB, its URI in $PGURI; dropped at exit.  Call it in the test's own
# shell (not in $(...)), more than once for more databases.
pg_newdb() {
	PGDB=ts_$(basename "$WORK" | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')_$RANDOM
	psql_do postgres "CREATE DATABASE $PGDB" || return 1
	PGURI=$(pg_uri "$PGDB")
	EXTRA_CLEANUP="$EXTRA_CLEANUP; psql -X -q '$(pg_uri postgres)' -c 'DROP DATABASE IF EXISTS $PGDB WITH (FORCE)' >/dev/null 2>&1"
}
