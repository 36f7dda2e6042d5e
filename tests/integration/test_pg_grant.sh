# ticketctl grant STORE ROLE frontend|daemon: a front end's role can add
# intake and read the public key (ticketctl submit and message work as it)
# and nothing else: no SELECT of the tickets, keys, audit or intake, no
# UPDATE or DELETE of intake.  A daemon's role serves the store.  Grant
# makes the role hold exactly that (a daemon moved to frontend loses the
# rest); an unknown role, a directory store, a bad kind: refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

pg_newdb
DB=$PGDB
SU=$PGURI
"$TICKETCTL" init "$SU" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
# Roles are the cluster's: named for this test's database, dropped after.
R=${DB}_
psql_do "$DB" "CREATE ROLE ${R}fe LOGIN; CREATE ROLE ${R}dm LOGIN; CREATE ROLE \"${R}Odd Role\" LOGIN; CREATE ROLE \"${R}x; DROP TABLE ts_tickets; --\" LOGIN"
EXTRA_CLEANUP="psql -X -q '$(pg_uri postgres)' -c 'DROP DATABASE IF EXISTS $DB WITH (FORCE)' -c 'DROP ROLE IF EXISTS ${R}fe, ${R}dm, \"${R}Odd Role\", \"${R}x; DROP TABLE ts_tickets; --\"' >/dev/null 2>&1; $EXTRA_CLEANUP"
uri_as() { echo "postgresql:///$DB?host=$TS_PG_DIR&user=$1"; }
FE=$(uri_as ${R}fe)
DM=$(uri_as ${R}dm)
# as_fe SQL: runs SQL as the front end's role; its exit status.
as_fe() { psql -X -q -At -v ON_ERROR_STOP=1 "$FE" -c "$1" >/dev/null 2>&1; }

bad() {	# bad WHAT TEXT ARGS...: grant fails with exit 2, saying TEXT
	local what=$1 text=$2 out rc; shift 2
	out=$("$TICKETCTL" grant "$@" 2>&1); rc=$?
	if [ $rc -eq 2 ] && [[ $out == *"$text"* ]]; then pass "$what"; else
		fail "$what (exit $rc: $out)"; fi
}
bad "grant with two operands: usage" "usage: ticketctl grant" "$SU" ${R}fe
bad "an unknown kind of role" '"admin" is no kind of role' "$SU" ${R}fe admin
bad "an unknown role" 'no role "nobody" in the database' "$SU" nobody frontend
mkdir -p "$WORK/dir"
bad "a directory store has no roles" "is a directory store" "$WORK/dir" fe frontend
pg_newdb
EMPTY=$PGURI
bad "a database with no store" "holds no ticketfs store" "$EMPTY" postgres daemon

check "before the grant, fe cannot submit" sh -c "! echo '{\"username\":\"u\",\"subject\":\"s\"}' | '$TICKETCTL' submit '$FE' 2>/dev/null"
out=$("$TICKETCTL" grant "$SU" ${R}fe frontend); rc=$?
check "grant fe frontend exits 0 ($out)" test $rc -eq 0
ID=$(echo '{"username":"u","subject":"s","email":"e@example.com"}' | "$TICKETCTL" submit "$FE"); rc=$?
check "submit as fe works ($ID)" test $rc -eq 0 -a -n "$ID"
check "so does submit --batch" sh -c "printf '{\"username\":\"a\",\"subject\":\"b\"}\n{\"username\":\"c\",\"subject\":\"d\"}\n' | '$TICKETCTL' submit --batch '$FE' | wc -l | grep -qx 2"
check "and message to the waiting ticket (its check runs as fe)" sh -c "echo hello | '$TICKETCTL' message '$FE' '$ID'"
out=$(echo hi | "$TICKETCTL" message "$FE" 20990101-000000-000000-abcd 2>&1); rc=$?
check "a message to a ticket that is not there is refused ($out)" test $rc -eq 2
check "the intake is in the database" test "$(psql_do "$DB" 'SELECT count(*) FROM ts_intake')" -eq 4
check "fe reads the public key" as_fe "SELECT pk FROM ts_public_key"
for t in ts_tickets ts_ticket_keys ts_audit ts_audit_checkpoint ts_intake ts_intake_rejected ts_meta ts_changes ts_schema_version; do
	check "fe cannot SELECT $t" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c 'SELECT 1 FROM $t LIMIT 1' >/dev/null 2>&1"
done
check "fe cannot choose an intake row's seq (taking the next ones: every other submit EEXIST)" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"INSERT INTO ts_intake (seq, kind, id, rec) VALUES (999999, 1, 'x', '\\\\x00')\" >/dev/null 2>&1"
check "fe cannot plant a row as claimed by a daemon" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"INSERT INTO ts_intake (kind, id, rec, claimed_by, claimed_at) VALUES (1, 'x', '\\\\x00', 'h1', now() + interval '100 years')\" >/dev/null 2>&1"
check "fe cannot insert a record over 64 MiB (the database refuses it)" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"INSERT INTO ts_intake (kind, id, rec) VALUES (1, 'x', decode(repeat('00', 67108865), 'hex'))\" >/dev/null 2>&1"
check "nor an id over 64 bytes" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"INSERT INTO ts_intake (kind, id, rec) VALUES (1, repeat('x', 65), '\\\\x00')\" >/dev/null 2>&1"
check "while a small row goes in (the checks above fail on the limits)" sh -c "psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"INSERT INTO ts_intake (kind, id, rec) VALUES (1, repeat('x', 64), decode(repeat('00', 16), 'hex'))\" >/dev/null 2>&1"
psql_do "$DB" "DELETE FROM ts_intake WHERE id = repeat('x', 64)" >/dev/null
check "fe cannot UPDATE ts_intake" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"UPDATE ts_intake SET claimed_by = 'x'\" >/dev/null 2>&1"
check "fe cannot DELETE ts_intake" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c 'DELETE FROM ts_intake' >/dev/null 2>&1"
check "fe cannot INSERT a ticket" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"INSERT INTO ts_tickets VALUES ('x', 1, '\\\\x00')\" >/dev/null 2>&1"
check "fe cannot change the public key" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$FE' -c \"UPDATE ts_public_key SET pk = 'x'\" >/dev/null 2>&1"
check "fe cannot set the policy" sh -c "! printf 'email 1s\n' | '$TICKETCTL' policy '$FE' - 2>/dev/null"
check "fe cannot read the policy either" sh -c "! '$TICKETCTL' policy '$FE' >/dev/null 2>&1"
check "the intake is untouched by those tries" test "$(psql -X -At "$SU" -c 'SELECT count(*) FROM ts_intake WHERE claimed_by IS NULL')" -eq 4

# A daemon's role: grant, then it reads and writes every table.
out=$("$TICKETCTL" grant "$SU" ${R}dm daemon); rc=$?
check "grant dm daemon exits 0 ($out)" test $rc -eq 0
for t in ts_tickets ts_ticket_keys ts_audit ts_audit_checkpoint ts_intake ts_intake_rejected ts_meta ts_changes; do
	check "dm may SELECT, INSERT, UPDATE, DELETE $t" test "$(psql -X -At "$DM" -c "SELECT has_table_privilege('$t', 'SELECT') AND has_table_privilege('$t', 'INSERT') AND has_table_privilege('$t', 'UPDATE') AND has_table_privilege('$t', 'DELETE')")" = t
done
check "dm may not TRUNCATE or drop: it owns nothing" test "$(psql -X -At "$DM" -c "SELECT has_table_privilege('ts_tickets', 'TRUNCATE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")" = f
check "dm reads the policy" sh -c "'$TICKETCTL' policy '$DM' | grep -q '^ticket'"
check "fsck as dm" "$TICKETCTL" fsck "$DM" --key "$KEY"
echo "$AGENT agent" > "$WORK/whitelist"
# (Unsealed: the sealing is not what this test is about.)
if forked "$TICKETFS" "$DM" "$MNT" -o key="$KEY",whitelist="$WORK/whitelist",fss="$WORK/none.fss"; then
	pass "a daemon as dm mounts the store"
	check "it takes the intake in" wait_for as $AGENT test -e "$MNT/tickets/$ID/email"
	check "and the message" wait_for sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets/$ID/messages' | wc -l) -eq 1"
	check "an agent's status move is stored" as $AGENT sh -c "echo processing > '$MNT/tickets/$ID/status'"
	umount_fs
else
	fail "a daemon as dm mounts the store"
fi
check "the audit trail dm wrote verifies" "$TICKETCTL" audit verify "$SU"

# A store of schema version 1 (before ts_audit_append_batch): a daemon as
# dm cannot migrate it (it owns nothing) and says so, changing nothing;
# one as the owner migrates it; dm's daemon then serves it, its audit
# batches going through the new function.
psql_do "$DB" "DROP FUNCTION ts_audit_append_batch(text, bigint, text[]); UPDATE ts_schema_version SET version = 1" >/dev/null
MOPTS=(-o key="$KEY",whitelist="$WORK/whitelist",fss="$WORK/none.fss")
if forked "$TICKETFS" "$DM" "$MNT" "${MOPTS[@]}" 2>"$WORK/mig.err"; then
	fail "a daemon as dm refuses a version-1 store it cannot migrate"
	umount_fs
else
	check "a daemon as dm refuses a version-1 store, saying why ($(head -c 300 "$WORK/mig.err"))" grep -q "migrating the schema to version 2 failed: .*permission denied" "$WORK/mig.err"
fi
check "the schema is still version 1" test "$(psql_do "$DB" 'SELECT version FROM ts_schema_version')" = 1
if forked "$TICKETFS" "$SU" "$MNT" "${MOPTS[@]}"; then
	pass "the owner's daemon mounts the version-1 store"
	umount_fs
else
	fail "the owner's daemon mounts the version-1 store"
fi
check "and migrates it to version 2" test "$(psql_do "$DB" 'SELECT version FROM ts_schema_version')" = 2
N0=$(psql_do "$DB" 'SELECT count(*) FROM ts_audit')
if forked "$TICKETFS" "$DM" "$MNT" "${MOPTS[@]}"; then
	pass "a daemon as dm mounts the migrated store"
	check "an agent reads a ticket on it" as $AGENT cat "$MNT/tickets/$ID/email"
	umount_fs
else
	fail "a daemon as dm mounts the migrated store"
fi
check "dm's entries reached the database" test "$(psql_do "$DB" 'SELECT count(*) FROM ts_audit')" -gt "$N0"
check "and the trail verifies" "$TICKETCTL" audit verify "$SU"

# Exactly: a daemon's role moved to frontend loses the rest.
out=$("$TICKETCTL" grant "$SU" ${R}dm frontend); rc=$?
check "grant dm frontend exits 0" test $rc -eq 0
check "dm can no longer SELECT ts_tickets" sh -c "! psql -X -q -v ON_ERROR_STOP=1 '$DM' -c 'SELECT 1 FROM ts_tickets' >/dev/null 2>&1"
check "but can submit" sh -c "echo '{\"username\":\"u\",\"subject\":\"s\"}' | '$TICKETCTL' submit '$DM' >/dev/null"
bad "frontend for a superuser: refused (it would hold everything)" 'is a superuser or owns' "$SU" postgres frontend
bad "a grant by a user who may not grant: refused, not a silent warning" "not granted: connect as the owner" "$DM" "${R}fe" daemon
check "and the role kept what it had" test "$(psql -X -At "$FE" -c "SELECT has_table_privilege('ts_tickets', 'SELECT')")" = f
# The role's name is quoted as an identifier, never spliced in.
out=$("$TICKETCTL" grant "$SU" "${R}Odd Role" frontend); rc=$?
check "a role name with a space and capitals is granted ($out)" test $rc -eq 0
check "it holds INSERT on ts_intake's record" test "$(psql -X -At "$SU" -c "SELECT has_column_privilege('${R}Odd Role', 'ts_intake', 'rec', 'INSERT')")" = t
check "a role name that is SQL is a name, not SQL" "$TICKETCTL" grant "$SU" "${R}x; DROP TABLE ts_tickets; --" daemon
check "ts_tickets is still there" test "$(psql -X -At "$SU" -c "SELECT to_regclass('ts_tickets') IS NOT NULL")" = t
finish
