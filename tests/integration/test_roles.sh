# Who sees what: agents and readers read every field exactly as submitted,
# auditors list and read status but no sealed field, strangers and root
# (not listed) get EACCES, also on paths another uid just walked.
. "$(dirname "$0")/lib.sh"

new_store
DESC=$'Line one\nline two with ünïcödé'
json=$(jq -cn --arg d "$DESC" '{username:"alice", subject:"ECS unreachable",
  description:$d, email:"alice@example.com", mobile:"+86 138 0000 0000",
  confidential:"card 6222 0000 1111 2222",
  authorizations:[{account:"alice-cloud", password:"s3cret!",
    resource:"ecs-1234", expires:"2099-12-01T00:00:00Z"}]}')
ID=$(echo "$json" | "$TICKETCTL" submit "$STORE")
ID2=$(echo '{"username":"bob","subject":"minimal"}' | "$TICKETCTL" submit "$STORE")
mount_fs || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID

# Agent and reader read every field exactly as submitted.
for u in $AGENT $READER; do
	expect_out $u "alice" "uid $u reads username" cat "$T/username"
	expect_out $u "ECS unreachable" "uid $u reads subject" cat "$T/subject"
	expect_out $u "$DESC" "uid $u reads description" cat "$T/description"
	expect_out $u "alice@example.com" "uid $u reads email" cat "$T/email"
	expect_out $u "+86 138 0000 0000" "uid $u reads mobile" cat "$T/mobile"
	expect_out $u "card 6222 0000 1111 2222" "uid $u reads confidential" cat "$T/confidential"
	expect_out $u "alice-cloud" "uid $u reads account" cat "$T/authorizations/a1/account"
	expect_out $u "s3cret!" "uid $u reads password" cat "$T/authorizations/a1/password"
	expect_out $u "ecs-1234" "uid $u reads resource" cat "$T/authorizations/a1/resource"
	expect_out $u "2099-12-01T00:00:00Z" "uid $u reads expires" cat "$T/authorizations/a1/expires"
	expect_out $u "open" "uid $u reads status" cat "$T/status"
done

# Every text file ends in a newline; st_size is exact.
check "files end in a newline" test "$(as $AGENT tail -c1 "$T/email" | od -An -c | tr -d ' ')" == '\n'
for f in username subject description email mobile confidential status created; do
	size=$(as $AGENT stat -c %s "$T/$f")
	real=$(as $AGENT cat "$T/$f" | wc -c)
	check "st_size of $f is exact ($size)" test "$size" -eq "$real"
done
expect_out $AGENT "$(printf '%s\n' authorizations created description email messages mobile status subject username confidential | sort)" \
	"the ticket directory lists the given fields" sh -c "ls '$T' | sort"
expect_out $AGENT "authorizations created messages status subject username" \
	"absent fields are absent, not empty" sh -c "ls '$MNT/tickets/$ID2' | sort | tr '\n' ' ' | sed 's/ \$//'"
check "created is RFC 3339 UTC" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' <(as $AGENT cat "$T/created")

# Auditor: lists, reads status, created, expires; no sealed field.
expect_out $AUDITOR "open" "auditor reads status" cat "$T/status"
check "auditor reads created" as $AUDITOR cat "$T/created"
expect_out $AUDITOR "2099-12-01T00:00:00Z" "auditor reads expires" cat "$T/authorizations/a1/expires"
check "auditor lists tickets" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups ls '$MNT/tickets' | grep -q '$ID'"
for f in username subject description email mobile confidential authorizations/a1/password; do
	expect_err $AUDITOR "Permission denied" "auditor cannot read $f" cat "$T/$f"
done
check "access(2): auditor may not read email" as $AUDITOR sh -c "! test -r '$T/email'"
check "access(2): auditor may read status" as $AUDITOR test -r "$T/status"
check "access(2): reader may read email" as $READER test -r "$T/email"
check "access(2): reader may not write status" as $READER sh -c "! test -w '$T/status'"

# A stranger gets EACCES everywhere below the root, even on paths the
# agent has just walked (and the kernel has cached).
as $AGENT ls -lR "$MNT/tickets" >/dev/null
as $AGENT cat "$T/email" >/dev/null
expect_err $STRANGER "Permission denied" "stranger cannot list tickets" ls "$MNT/tickets"
expect_err $STRANGER "Permission denied" "stranger cannot stat a cached ticket" stat "$T"
expect_err $STRANGER "Permission denied" "stranger cannot stat a cached field" stat "$T/email"
expect_err $STRANGER "Permission denied" "stranger cannot read a cached field" cat "$T/email"
expect_err $STRANGER "Permission denied" "stranger cannot read status" cat "$T/status"
expect_err $STRANGER "Permission denied" "stranger cannot stat a missing ticket" stat "$MNT/tickets/nonexistent"
expect_err $STRANGER "Permission denied" "the kernel refuses a stranger at the mount root" ls "$MNT"
check "a stranger may stat the mount root itself" as $STRANGER stat "$MNT"

# root, not listed, cannot read content: a backup job as root copies no
# plaintext.
expect_err 0 "Permission denied" "root cannot read a sealed field" cat "$T/email"
expect_err 0 "Permission denied" "root cannot list tickets" ls "$MNT/tickets"
check "root's find copies nothing" sh -c "! find '$MNT' -type f -exec cat {} + 2>/dev/null | grep -q alice"
check "root's tar of the mount holds no plaintext" sh -c "! tar cf - -C '$MNT' . 2>/dev/null | grep -qa 'alice@example.com'"

# Only agents write; the others are refused and nothing changes.
for u in $READER $AUDITOR $STRANGER 0; do
	expect_err $u "Permission denied" "uid $u cannot write status" sh -c "echo processed > '$T/status'"
	expect_err $u "Permission denied" "uid $u cannot remove email" rm -f "$T/email"
	expect_err $u "Permission denied" "uid $u cannot add a message" sh -c "echo hi > '$T/messages/m1'"
	expect_err $u "Permission denied" "uid $u cannot remove a ticket" rm -rf "$T"
done
expect_out $AGENT "open" "status unchanged" cat "$T/status"
check "email still there" as $AGENT test -e "$T/email"
check "no message was added" test -z "$(as $AGENT ls "$T/messages")"
expect_err $AGENT "Operation not permitted" "agent cannot chmod" chmod 777 "$T/email"
expect_err $AGENT "Operation not permitted" "agent cannot rename" mv "$T/email" "$T/email2"
expect_err $AGENT "Operation not permitted" "agent cannot mkdir" mkdir "$T/x"
expect_err $AGENT "Operation not permitted" "agent cannot symlink" ln -s /etc/passwd "$T/x"
expect_err $AGENT "Operation not permitted" "agent cannot hard-link" ln "$T/email" "$T/messages/x"
expect_err $AGENT "Permission denied" "agent cannot write a field (its bits say so)" sh -c "echo x > '$T/email'"
expect_err $AGENT "Permission denied" "agent cannot append to a field" sh -c "echo x >> '$T/subject'"
expect_err 0 "Permission denied" "root (not listed) cannot chmod" chmod 777 "$T/email"
expect_err 0 "Permission denied" "root cannot write status" sh -c "echo processed > '$T/status'"
expect_out $AGENT "open" "status still unchanged" cat "$T/status"
expect_out $AGENT "alice@example.com" "email still unchanged" cat "$T/email"

umount_fs
finish
