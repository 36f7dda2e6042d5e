# ticketctl migrate DIR URI: a directory store (tickets, messages,
# authorizations, a forgotten user, per-ticket keys, a changed policy,
# intake waiting and rejected, an audit trail from a mounted session)
# copied into an empty PostgreSQL store; fsck --key and audit verify pass
# on the copy, and a mount of it shows what a mount of the directory
# shows.  Refusals: another key's store, a target holding other tickets, a
# source a daemon serves, a source trail that does not verify.  kill -9
# part way, run again: it finishes, counts equal, fsck passes.  The golden
# fixture migrates too.  The progress bar only on a terminal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)

C=CANARY-m1gr4t3
out=$("$TICKETCTL" init "$STORE" "$KEY")
SEED=$(printf '%s\n' "$out" | grep -E '^[0-9a-f]{64}-[0-9]+-[0-9]+$')
printf '%s agent\n%s reader\n%s auditor\n' $AGENT $READER $AUDITOR > "$STORE/whitelist"
ticket() {	# ticket USER TAG: a ticket of USER with every field
	jq -cn --arg u "$1" --arg c "$2-$C" '{username:$u, subject:("s-"+$c),
	  description:("d-"+$c), email:("e-"+$c), mobile:("m-"+$c),
	  confidential:("c-"+$c)}' | "$TICKETCTL" submit "$STORE"
}
ag() { as $AGENT "$@"; }
T1=$(ticket alice t1)
T2=$(ticket bob t2)
T3=$(ticket carol t3)
printf 'ticket processed+30d\nemail processed, 90d, forgotten\nusername forgotten\nmobile forgotten\n' > "$WORK/pol"
"$TICKETCTL" policy "$STORE" "$WORK/pol" >/dev/null
mount_fg || { echo "mount failed"; exit 1; }
check "three tickets in the directory store" test "$(ag ls "$MNT/tickets" | wc -l)" -eq 3
ag sh -c "echo 'first reply $C' > '$MNT/tickets/$T1/messages/reply-1'"
echo "customer message $C" | "$TICKETCTL" message "$STORE" "$T1" >/dev/null
AUTH=$(echo '{"account":"acct","password":"pw-'$C'","expires":"2099-01-01T00:00:00Z"}' | "$TICKETCTL" authorize "$STORE" "$T2")
"$TICKETCTL" forget "$STORE" carol
ag sh -c "echo processing > '$MNT/tickets/$T2/status'"
check "the authorization is in" wait_for ag test -d "$MNT/tickets/$T2/authorizations/$AUTH"
check "carol is forgotten" wait_for ag sh -c "! test -e '$MNT/tickets/$T3/username'"
ag rm "$MNT/tickets/$T1/mobile"
ag cat "$MNT/tickets/$T1/email" >/dev/null
printf 'garbage' > "$STORE/intake/20990101-000000-000000-0000-t-20990101-000000-000000-dead"
check "a damaged intake record is rejected" wait_for test -f "$STORE/intake/rejected/20990101-000000-000000-0000-t-20990101-000000-000000-dead"
umount_fs
# Intake waiting while no daemon runs.
T4=$(ticket dave t4)
echo "late message $C" | "$TICKETCTL" message "$STORE" "$T2" >/dev/null
check "two intake records wait" test "$(ls "$STORE/intake" | grep -vc rejected)" -eq 2
check "the directory store passes fsck" "$TICKETCTL" fsck "$STORE" --key "$KEY"
check "its trail verifies" "$TICKETCTL" audit verify "$STORE"
NKEYS=$(ls "$STORE/keys" | wc -l)
NAUDIT=$(cat "$STORE"/audit/*.log | wc -l)

# --- the migration ---------------------------------------------------
pg_newdb
out=$("$TICKETCTL" migrate "$STORE" "$PGURI" 2>"$WORK/mig.err"); rc=$?
check "migrate exits 0 ($out $(cat "$WORK/mig.err"))" test $rc -eq 0
check "it says what it copied" grep -q "3 tickets (3 copied now), $NKEYS ticket keys, 2 intake waiting, 1 rejected, $NAUDIT audit entries as host" <<<"$out"
check "no progress bar when stderr is no terminal" test ! -s "$WORK/mig.err"
check "the copy holds 3 tickets" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_tickets')" -eq 3
check "and every ticket key" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_ticket_keys')" -eq "$NKEYS"
check "and the intake, waiting" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_intake')" -eq 2
check "and rejected" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_intake_rejected')" -eq 1
check "and the audit entries, one chain" test "$(psql_do "$PGDB" 'SELECT count(DISTINCT host)::text || count(*) FROM ts_audit')" == "1$NAUDIT"
check "the records are the same bytes" test "$(psql_do "$PGDB" "SELECT encode(rec, 'hex') FROM ts_tickets WHERE id = '$T1'")" == "$(xxd -p "$STORE/tickets/$T1" | tr -d '\n')"
check "the policy is the directory store's" sh -c "'$TICKETCTL' policy '$PGURI' | cmp - '$STORE/policy'"
check "no migration mark is left" test -z "$(psql_do "$PGDB" "SELECT name FROM ts_meta WHERE name = 'migration'")"
check "no canary in a pg_dump of the copy" sh -c "! pg_dump '$PGURI' | grep -q '$C'"
check "fsck --key passes on the copy" "$TICKETCTL" fsck "$PGURI" --key "$KEY"
check "audit verify passes on the copy" "$TICKETCTL" audit verify "$PGURI"
check "the directory's seals came along" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_audit_seals')" -eq "$(cat "$STORE"/audit/seals-* | wc -l)"
check "audit verify --seed passes on the copy (the seals vouch for it)" "$TICKETCTL" audit verify "$PGURI" --seed "$SEED"
out=$("$TICKETCTL" migrate "$STORE" "$PGURI" 2>&1); rc=$?
check "a second run finds everything there (exit 0, nothing copied: $out)" test $rc -eq 0
check "and says so" grep -q '3 tickets (0 copied now)' <<<"$out"
check "and copies nothing twice" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_intake')$(psql_do "$PGDB" 'SELECT count(*) FROM ts_audit')" == "2$NAUDIT"

# --- the copy mounts and shows what the directory shows --------------
listing() {	# listing: what the agent sees, but the intake's own times
	ag sh -c "cd '$MNT/tickets' && find . -printf '%p %s\n' | sort && grep -r . . | grep -v -e '^./$T4/created:' | sort"
}
cp -a "$STORE" "$WORK/dircopy"
STORE0=$STORE
STORE=$WORK/dircopy
# Its own checkpoint copy and no sealing state: the trail it goes on
# with is not the one the key's files follow.
mount_fg -o checkpoint_copy="$WORK/dircopy.checkpoint",fss="$WORK/none.fss"
check "the directory mount took the waiting intake in" wait_for ag test -e "$MNT/tickets/$T4/subject"
check "and the late message" wait_for sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets/$T2/messages' | wc -l) -eq 1"
listing > "$WORK/dir.list"
umount_fs
STORE=$STORE0
# This host's name, the chain's: the daemon goes on with the copied chain.
# The key's sealing state goes on from the copied seals.
mount_pg() { forked "$TICKETFS" "$PGURI" "$MNT" -o key="$KEY",whitelist="$STORE/whitelist"; }
if mount_pg; then
	pass "the copy mounts"
	check "it takes the waiting intake in" wait_for ag test -e "$MNT/tickets/$T4/subject"
	check "and the late message" wait_for sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets/$T2/messages' | wc -l) -eq 1"
	listing > "$WORK/pg.list"
	check "it shows the same tickets, files, sizes and values ($(wc -l < "$WORK/dir.list") lines)" diff "$WORK/dir.list" "$WORK/pg.list"
	check "the canary is there to compare (a sealed value read back)" grep -q "c-t1-$C" "$WORK/pg.list"
	check "carol stays forgotten" ag sh -c "! test -e '$MNT/tickets/$T3/username'"
	check "the agent's message reads back" ag grep -q "first reply $C" "$MNT/tickets/$T1/messages/reply-1"
	umount_fs
	check "the chain the copy's daemon went on with verifies" "$TICKETCTL" audit verify "$PGURI"
	check "and its seals, with the seed" "$TICKETCTL" audit verify "$PGURI" --seed "$SEED"
	check "one chain: the daemon went on with the copied one" test "$(psql_do "$PGDB" 'SELECT count(DISTINCT host) FROM ts_audit')" -eq 1
else
	fail "the copy mounts"
fi

# --- refusals --------------------------------------------------------
bad() {	# bad WHAT TEXT STATUS ARGS...: migrate fails so, saying TEXT
	local what=$1 text=$2 want=$3 out rc; shift 3
	out=$("$TICKETCTL" migrate "$@" 2>&1); rc=$?
	if [ $rc -eq "$want" ] && [[ $out == *"$text"* ]]; then pass "$what"; else
		fail "$what (exit $rc: $out)"; fi
}
bad "migrate with one operand: usage" "usage: ticketctl migrate" 2 "$STORE"
bad "migrate URI DIR (the wrong way round)" "a directory store into a PostgreSQL one" 2 "$PGURI" "$STORE"
pg_newdb
OTHER=$PGURI
"$TICKETCTL" init "$OTHER" "$WORK/other.key" >/dev/null
bad "into another key's store: refused" "another key's store" 2 "$STORE" "$OTHER"
check "nothing copied there" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_tickets')" -eq 0
pg_newdb
"$TICKETCTL" migrate "$STORE" "$PGURI" >/dev/null
psql_do "$PGDB" "INSERT INTO ts_tickets (id, ver, rec) VALUES ('20990101-000000-000000-beef', 1, '\\x00')"
bad "into a store holding a ticket the source has not: refused" "holds ticket 20990101-000000-000000-beef" 2 "$STORE" "$PGURI"
mount_fg -o checkpoint_copy="$WORK/busy.checkpoint",fss="$WORK/none.fss"
pg_newdb
bad "from a store a daemon serves: refused" "a daemon serves" 2 "$STORE" "$PGURI"
umount_fs
check "and nothing was made" test -z "$(psql_do "$PGDB" "SELECT to_regclass('ts_tickets')")"
bad "--host other than the entries' own: refused" "the trail's entries name host $(hostname)" 2 --host not-this-one "$STORE" "$PGURI"
check "and nothing was made" test -z "$(psql_do "$PGDB" "SELECT to_regclass('ts_tickets')")"
cp -a "$STORE" "$WORK/cut"
sed -i '2s/"uid":0/"uid":7/' "$WORK/cut"/audit/000001.log
bad "from a store whose trail does not verify: refused, exit 1" "does not verify, nothing copied" 1 "$WORK/cut" "$PGURI"
check "and nothing was made" test -z "$(psql_do "$PGDB" "SELECT to_regclass('ts_tickets')")"

# --- kill -9 part way, run again --------------------------------------
BIG=$WORK/big
"$TICKETCTL" init "$BIG" "$WORK/big.key" >/dev/null
echo "$AGENT agent" > "$BIG/whitelist"
for i in $(seq 3000); do echo "{\"username\":\"u$i\",\"subject\":\"s$i\",\"email\":\"e$i@example.com\"}"; done |
	"$TICKETCTL" submit --batch "$BIG" >/dev/null
STORE0=$STORE KEY0=$KEY
STORE=$BIG KEY=$WORK/big.key
DAEMON_EXIT_S=60	# it saves the snapshot of 3,000 tickets at unmount
mount_fg
check "3,000 tickets in the big store" wait_within 120 sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | wc -l) -eq 3000"
umount_fs
STORE=$STORE0 KEY=$KEY0
# The kill lands once the first tickets show; on a quiet machine the copy
# may outrun the poll and finish first, so up to 5 tries, each on a fresh
# database, until one is killed part way.
for try in 1 2 3 4 5; do
	pg_newdb
	"$TICKETCTL" migrate "$BIG" "$PGURI" >/dev/null 2>&1 &
	MIG=$!
	wait_within 10 sh -c "test \"\$(psql -X -At '$PGURI' -c 'SELECT count(*) FROM ts_tickets' 2>/dev/null)\" -gt 0"
	kill -9 $MIG
	wait $MIG 2>/dev/null
	part=$(psql_do "$PGDB" 'SELECT count(*) FROM ts_tickets')
	[ "$part" -gt 0 ] && [ "$part" -lt 3000 ] && break
done
check "killed part way ($part of 3000 tickets copied)" test "$part" -gt 0 -a "$part" -lt 3000
out=$("$TICKETCTL" migrate "$BIG" "$PGURI" 2>&1); rc=$?
check "run again, it finishes ($out)" test $rc -eq 0
check "copying only what was not there" grep -q "3000 tickets ($((3000 - part)) copied now)" <<<"$out"
check "every ticket and key is there" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_tickets') $(psql_do "$PGDB" 'SELECT count(*) FROM ts_ticket_keys')" == "3000 $(ls "$BIG/keys" | wc -l)"
check "every audit entry" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_audit')" -eq "$(cat "$BIG"/audit/*.log | wc -l)"
check "fsck --key passes on the finished copy" "$TICKETCTL" fsck "$PGURI" --key "$WORK/big.key"
check "audit verify passes on it" "$TICKETCTL" audit verify "$PGURI"

# --- the progress bar, on a terminal ---------------------------------
pg_newdb
script -qec "'$TICKETCTL' migrate '$BIG' '$PGURI'" /dev/null > "$WORK/tty.out" 2>&1
check "on a terminal: a progress bar with rate and time left" grep -aq 'tickets  *\[#*\.*\] [0-9]*/3000  [0-9]*/s' "$WORK/tty.out"
check "each phase ends full" sh -c "grep -aq 'tickets  *\[#\{30\}\] 3000/3000' '$WORK/tty.out' && grep -aq 'keys  *\[#\{30\}\] 3000/3000' '$WORK/tty.out' && grep -aq 'audit  *\[#\{30\}\]' '$WORK/tty.out'"

# --- the golden fixture -----------------------------------------------
read -r FA FB _ < "$FIX/store_v1.ids"
rm -rf "$WORK/fix"
cp -a "$FIX/store_v1" "$WORK/fix"
chmod 0700 "$WORK/fix"
install -m 0600 "$FIX/store_v1.key" "$WORK/fix.key"
pg_newdb
bad "a --host that is no host name: refused" '"bad name" is no host name' 2 --host "bad name" "$WORK/fix" "$PGURI"
check "and nothing was made" test -z "$(psql_do "$PGDB" "SELECT to_regclass('ts_tickets')")"
out=$("$TICKETCTL" migrate --host golden "$WORK/fix" "$PGURI" 2>&1); rc=$?
check "the golden fixture migrates ($out)" test $rc -eq 0
check "as host golden (its entries name none)" test "$(psql_do "$PGDB" 'SELECT DISTINCT host FROM ts_audit')" == golden
check "fsck --key passes on its copy" "$TICKETCTL" fsck "$PGURI" --key "$WORK/fix.key"
check "audit verify passes on its copy" "$TICKETCTL" audit verify "$PGURI"
STORE=$WORK/fix KEY=$WORK/fix.key
: > "$LOG"
if forked "$TICKETFS" "$PGURI" "$MNT" -o key="$KEY",whitelist="$STORE/whitelist"; then
	check "its copy mounts and shows what it showed" sh -c "
		while IFS=\$(printf '\t') read -r path want; do
			got=\$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups cat '$MNT/tickets/'\"\$path\" 2>&1 | tr '\n' '|')
			[ \"\$got\" = \"\$want\" ] || { echo \"\$path: \$got\" >&2; exit 1; }
		done < '$FIX/store_v1.expect'"
	check "both its tickets are listed" test "$(ag ls "$MNT/tickets" | tr '\n' ' ')" == "$FA $FB "
	umount_fs
else
	fail "the golden fixture's copy mounts"
fi
# The damaged and the forged fixtures: copied as they are, so fsck finds
# on the copy exactly what it finds on the directory (the planted record
# fails its MAC there too).
for f in store_v1_damaged store_v1_forged; do
	rm -rf "$WORK/fix"
	cp -a "$FIX/$f" "$WORK/fix"
	chmod 0700 "$WORK/fix"
	pg_newdb
	out=$("$TICKETCTL" migrate --host golden "$WORK/fix" "$PGURI" 2>&1); rc=$?
	check "$f migrates ($out)" test $rc -eq 0
	"$TICKETCTL" fsck "$WORK/fix" --key "$WORK/fix.key" > "$WORK/fsck.dir"; rd=$?
	"$TICKETCTL" fsck "$PGURI" --key "$WORK/fix.key" > "$WORK/fsck.pg"; rp=$?
	check "fsck of its copy finds what it finds in the directory (exit $rd, $rp)" sh -c "test $rd -eq 1 && test $rp -eq 1 && diff '$WORK/fsck.dir' '$WORK/fsck.pg'"
	check "and names the bad records" grep -q '^BAD ' "$WORK/fsck.pg"
	check "its trail verifies" "$TICKETCTL" audit verify "$PGURI"
done
finish
