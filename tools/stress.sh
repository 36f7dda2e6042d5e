#!/bin/bash
# Concurrency and load test of ticketfs (issue 6, item 6): many concurrent
# readers and writers of several uids, intake, revocations, whitelist and
# policy reloads and expiries firing all the time, against a daemon built
# with ThreadSanitizer or AddressSanitizer+UBSan.  Fails on any sanitizer
# report (leaks included), any wrong answer seen by a worker, a failing
# `ticketctl fsck --key` or `ticketctl audit verify`, and on too little
# work verified: verified reads, late-descriptor and late-directory runs
# and stable tickets seen each have a floor that grows with SECONDS (see
# floor_check), printed in the summary.  Run as root.
#
#   tools/stress.sh [SECONDS] [BUILD_DIR...]
#       SECONDS (default 60) of load against each build.  Without BUILD_DIR
#       it configures and builds build-tsan (-DTS_TSAN=ON) and build-asan
#       (-DTS_SANITIZE=ON) in the source tree, then runs both.  A BUILD_DIR
#       may be a build tree or its bin/.  Reports and logs are kept in a
#       directory it prints.
#   tools/stress.sh --bin BIN_DIR SECONDS
#       one round against BIN_DIR (what tests/integration/test_stress.sh
#       runs); exit 0 if clean.  STRESS_OUT=DIR keeps its logs there.
#
# Tunables (environment): STRESS_READERS (readers per uid, default 2),
# STRESS_WRITERS (agent writers, default 2), STRESS_SLACK_MS (how late
# after a deadline an answer may still show the item, default 50),
# STRESS_CACHE_MB and STRESS_PREFETCH (the daemon's cache= and prefetch=,
# default 1 MiB, so that values are evicted all the time, and 4 threads).
#
# What a wrong answer is: every value submitted embeds its ticket's number
# and its own name ("tfs 17 email", "tfs 17 auth a1 password", description
# lines "tfs 17 description 3", ...), and tools/stress.sh keeps a map from
# ticket id to number, submission and processing times, removals and
# expiries.  So a worker can tell of every read whether the bytes are the
# ones submitted for that path, and whether the item should be gone (its
# deadline, computed from the policy and an upper bound of the time that
# governs it, has passed) or must still be there (a "stable" ticket, which
# no writer touches, before the lower bound of its deadline).  Readers
# and agents must never get EACCES; the auditor must get EACCES for every
# sealed value and the stranger for everything; a read after a deadline
# through a descriptor opened before it must fail.
set -u
export LC_ALL=C TZ=UTC

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
SRC=$(cd "$(dirname "$0")/.." && pwd)
U1=1000000			# microseconds in a second
TEMPUID=61005			# added to and removed from the whitelist

usage() {
	sed -n '2,/^set -u/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-0}"
}

# ---------------------------------------------------------------------------
# Worker side.  Workers are this script run as `--worker ROLE NAME [ARG]`
# under their own uid; they share only files: $M (the map, written by the
# intake and writers, read by all) and $OUT (each worker's counts and wrong
# answers).  Everything they need comes in the environment.

cnt() { C[$1]=$((${C[$1]:-0} + 1)); }
wrong() {
	cnt WRONG
	printf '%s %s: %s\n' "$EPOCHREALTIME" "$WN" "$*" >>"$OUT/wrong.$WN"
}
w_flush() {
	local k
	for k in "${!C[@]}"; do echo "$ROLE $k ${C[$k]}"; done \
		>"$OUT/stats.$WN.tmp" && mv -f "$OUT/stats.$WN.tmp" "$OUT/stats.$WN"
	printf '%s\n' "${!SEEN[@]}" >"$OUT/seen.$WN"
}
running() { (( ${EPOCHREALTIME/./} < END_US )); }
# Counts go to a file every 5 s, and at the end.
maybe_flush() {
	local now=${EPOCHREALTIME/./}
	(( now - FLUSH_AT > 5 * U1 )) || return 0
	FLUSH_AT=$now
	w_flush
}
# mset FILE VALUE: writes a map entry whole (readers never see half).
mset() { printf '%s\n' "$2" >"$1.$WN.tmp" && mv -f "$1.$WN.tmp" "$1"; }

# errkind TEXT -> EK: the errno a tool's message names.
errkind() {
	case $1 in
	"") EK=none ;;
	*"No such file"*) EK=ENOENT ;;
	*"Permission denied"*) EK=EACCES ;;
	*"resource busy"*) EK=EBUSY ;;
	*"not permitted"*) EK=EPERM ;;
	*"Input/output"*) EK=EIO ;;
	*"not empty"*) EK=ENOTEMPTY ;;
	*"Invalid argument"*) EK=EINVAL ;;
	*) EK=other ;;
	esac
}

# tinfo ID: TK (number) TKIND (s stable, v volatile) TS0 TS1 (before and
# after the submit, us) TE1 TE2 (expiry of a1, a2, us).  1 if not mapped.
tinfo() {
	TK=
	[ -r "$M/t/$1" ] && read -r TK TKIND TS0 TS1 TE1 TE2 <"$M/t/$1"
	[ -n "$TK" ]
}

lower_to() { if (( $1 < UP )); then UP=$1; UPWHY=$2; fi; }
gone_check() {
	local g=
	[ -r "$M/gone/${1}_$2" ] && read -r g <"$M/gone/${1}_$2"
	[ -n "$g" ] && lower_to "$g" "removed"
}
# upper ID REST (after tinfo): UP, a time by which REST (a path below the
# ticket, "" for the ticket) is certainly gone, and UPWHY.
upper() {
	local id=$1 rest=$2 p= a= j e= r= v
	UP=$((TS1 + D_TICKET * U1)); UPWHY=ticket-period
	[ -r "$M/proc/$id" ] && read -r p <"$M/proc/$id"
	[ -n "$p" ] && lower_to $((p + D_PROC * U1)) processed+
	case $rest in
	email) lower_to $((TS1 + D_EMAIL * U1)) email-period
	       [ -n "$p" ] && lower_to "$p" processed ;;
	mobile) lower_to $((TS1 + D_MOBILE * U1)) mobile-period
	        [ -n "$p" ] && lower_to "$p" processed ;;
	confidential) [ -n "$p" ] && lower_to "$p" processed ;;
	messages/?*)
		[ -r "$M/msg/${id}_${rest#messages/}" ] &&
			read -r a j <"$M/msg/${id}_${rest#messages/}"
		[ -n "$a" ] && lower_to $((a + D_MSG * U1)) message-period ;;
	authorizations/?*)
		v=${rest#authorizations/}; v=${v%%/*}
		[ -n "$p" ] && lower_to "$p" processed
		case $v in
		a1) lower_to "$TE1" expires ;;
		a2) lower_to "$TE2" expires ;;
		*) [ -r "$M/exp/${id}_$v" ] && read -r e j <"$M/exp/${id}_$v"
		   [ -n "$e" ] && lower_to "$e" expires
		   [ -r "$M/rev/${id}_$v" ] && read -r r <"$M/rev/${id}_$v"
		   [ -n "$r" ] && lower_to $((r + REV_SLACK * U1)) revoked ;;
		esac
		gone_check "$id" "authorizations~$v" ;;
	esac
	gone_check "$id" @
	[ -n "$rest" ] && gone_check "$id" "${rest//\//\~}"
}
# lower ID REST (a stable ticket, after tinfo): LO, a time before which
# REST is certainly there.
lower() {
	LO=$((TS0 + D_TICKET * U1))
	case $2 in
	email) (( TS0 + D_EMAIL * U1 < LO )) && LO=$((TS0 + D_EMAIL * U1)) ;;
	mobile) (( TS0 + D_MOBILE * U1 < LO )) && LO=$((TS0 + D_MOBILE * U1)) ;;
	authorizations/a1*) (( TE1 < LO )) && LO=$TE1 ;;
	authorizations/a2*) (( TE2 < LO )) && LO=$TE2 ;;
	esac
}

# desc_of K -> DESC: ticket K's description (several cache blocks, and
# for one ticket in seven two pages).
desc_of() {
	DESC=${DESCS[$1]:-}
	[ -n "$DESC" ] && return
	local n i
	n=$(( $1 % 7 == 0 ? 300 : $1 % 40 + 1 ))
	for ((i = 1; i <= n; i++)); do DESC+="tfs $1 description $i"$'\n'; done
	DESCS[$1]=$DESC
}

# expect_for ID REST (after tinfo) -> EXP (the exact bytes) or PAT (a
# regex for the one line before the final newline).
expect_for() {
	local k=$TK n a f e= j
	EXP= PAT=
	case $2 in
	status) if [ "$TKIND" = s ]; then EXP=$'open\n'
		else PAT='^(open|processing|processed)$'; fi ;;
	created|authorizations/*/expires)
		PAT='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' ;;
	subject|username|email|mobile|confidential) EXP="tfs $k $2"$'\n' ;;
	description) desc_of "$k"; EXP=$DESC ;;
	messages/*)
		n=${2#messages/}
		if [[ $n == w* ]]; then
			EXP="tfs $k message $n"$'\n'
		elif [ -r "$M/msg/${1}_$n" ] && read -r a j <"$M/msg/${1}_$n"; then
			EXP="tfs $k message i$j"$'\n'
		else
			PAT="^tfs $k message i[0-9]+\$"
		fi ;;
	authorizations/*/*)
		a=${2#authorizations/}; f=${a#*/}; a=${a%%/*}
		case $a in
		a1|a2) EXP="tfs $k auth $a $f"$'\n' ;;
		*) [ -r "$M/exp/${1}_$a" ] && read -r e j <"$M/exp/${1}_$a"
		   if [ -n "$e" ]; then EXP="tfs $k auth i$j $f"$'\n'
		   else PAT="^tfs $k auth i[0-9]+ $f\$"; fi ;;
		esac ;;
	*) PAT='^ no file of this name is expected $' ;;
	esac
}

# torn_status CONTENT: status changed between two read(2)s of one reader
# (e.g. "open\n" at offset 0, then "ssing\n" of "processing\n" at offset
# 5): what a file rewritten under a reader gives, not a wrong answer.
torn_status() {
	local a b k
	for a in open processing processed; do
		for b in processing processed; do
			k=$(( ${#a} + 1 ))
			[[ $1 == "$a"$'\n'"${b:k}"$'\n' ]] && (( ${#b} >= k )) && return 0
		done
	done
	return 1
}

# verify ID REST CONTENT (after tinfo): 0 if right, else WHY.
verify() {
	if [ "$2" = status ] && [ "$TKIND" = v ] && torn_status "$3"; then
		cnt status-torn
		return 0
	fi
	expect_for "$1" "$2"
	if [ -n "$EXP" ]; then
		[[ $3 == "$EXP" ]] && return 0
		WHY="got $(printf %q "${3:0:100}") (${#3} bytes), want $(printf %q "${EXP:0:100}") (${#EXP} bytes)"
		return 1
	fi
	local body=${3%$'\n'}
	[[ $3 == *$'\n' && $body != *$'\n'* && $body =~ $PAT ]] && return 0
	WHY="got $(printf %q "${3:0:100}"), want a line matching $PAT"
	return 1
}

# judge_time ID REST T0 WHAT: REST was shown by something that started
# at T0; wrong if it was certainly gone by then.
judge_time() {
	tinfo "$1" || return 1
	upper "$1" "$2"
	if (( $3 > UP + SLACK_US )); then
		wrong "$4 $1/$2 shown $(( ($3 - UP) / 1000 )) ms after its deadline ($UPWHY)"
	fi
	return 0
}
# judge_ok ID REST T0 CONTENT OP: a successful read.
judge_ok() {
	if ! judge_time "$1" "$2" "$3" "$5"; then cnt unverified; return; fi
	if verify "$1" "$2" "$4"; then cnt verified; else wrong "$5 $1/$2: $WHY"; fi
}
# judge_err ID REST T1 ERRTEXT OP: a failed read (or lookup) of REST,
# which ended at T1.  Readers and agents may see ENOENT (the item went),
# EBUSY for a message being written; nothing else.
judge_err() {
	errkind "$4"
	case $EK in
	ENOENT)
		cnt "$5-enoent"
		tinfo "$1" || return
		if [ "$TKIND" = s ]; then
			lower "$1" "$2"
			(( $3 < LO - SLACK_US )) &&
				wrong "$5 $1/$2: ENOENT $(( (LO - $3) / 1000 )) ms before its deadline"
		fi ;;
	EBUSY)
		if [[ $2 == messages/* ]]; then cnt "$5-ebusy"
		else wrong "$5 $1/$2: $4"; fi ;;
	*) wrong "$5 $1/$2: unexpected error: $4" ;;
	esac
}

# The tickets listed (refreshed every 2 s); pick_id / pick_kind KIND.
refresh_list() {
	local now=${EPOCHREALTIME/./} line
	(( now - LIST_AT < 2 * U1 )) && return
	LIST_AT=$now
	mapfile -t LIST < <(ls "$MNT/tickets" 2>"$ERRF")
	cnt ls
	while IFS= read -r line; do
		errkind "$line"
		[ "$EK" = ENOENT ] || wrong "ls tickets: $line"
	done <"$ERRF"
}
pick_id() {
	refresh_list
	(( ${#LIST[@]} )) || return 1
	ID=${LIST[RANDOM % ${#LIST[@]}]}
}
# pick_kind KIND [WRITER]: a listed, mapped ticket of that kind (and for a
# writer one of its own: number mod STRESS_WRITERS).
pick_kind() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		pick_id || return 1
		tinfo "$ID" || continue
		[ "$TKIND" = "$1" ] || continue
		[ -z "${2:-}" ] || (( TK % NW == $2 )) || continue
		[ "$1" = s ] && SEEN[$ID]=1	# stable tickets seen (a floor)
		return 0
	done
	return 1
}

STABLE_FILES=(status created subject description username email mobile
	confidential authorizations/a1/account authorizations/a1/password
	authorizations/a1/resource authorizations/a1/expires
	authorizations/a2/account authorizations/a2/password
	authorizations/a2/resource authorizations/a2/expires)
SEALED=(subject description username email mobile confidential
	authorizations/a1/password authorizations/a2/account)

# read_check ID REST OP: cat, then judge.
read_check() {
	local f="$MNT/tickets/$1/$2" t0 t1 out e=
	t0=${EPOCHREALTIME/./}
	out=$(cat -- "$f" 2>"$ERRF" && echo .)
	t1=${EPOCHREALTIME/./}
	if [[ $out == *. ]]; then
		cnt "$3"
		judge_ok "$1" "$2" "$t0" "${out%.}" "$3"
	else
		read -r e <"$ERRF"
		judge_err "$1" "$2" "$t1" "$e" "$3"
	fi
}

# walk_pick ID -> REST: a file of the ticket found by listing it.
walk_pick() {
	local d="$MNT/tickets/$1" e s
	local -a v
	mapfile -t v < <(ls -A "$d" 2>/dev/null)
	(( ${#v[@]} )) || return 1
	e=${v[RANDOM % ${#v[@]}]}
	case $e in
	messages|authorizations)
		mapfile -t v < <(ls -A "$d/$e" 2>/dev/null)
		(( ${#v[@]} )) || return 1
		s=${v[RANDOM % ${#v[@]}]}
		if [ "$e" = messages ]; then REST=$e/$s; return 0; fi
		mapfile -t v < <(ls -A "$d/$e/$s" 2>/dev/null)
		(( ${#v[@]} )) || return 1
		REST=$e/$s/${v[RANDOM % ${#v[@]}]} ;;
	*) REST=$e ;;
	esac
}

# Walks: every error line must be ENOENT (something went meanwhile), or
# EBUSY on a message being written.
walk_errors() {	# OP
	local line
	while IFS= read -r line; do
		errkind "$line"
		case $EK in
		ENOENT) cnt "$1-enoent" ;;
		EBUSY) if [[ $line == */messages/* ]]; then cnt "$1-ebusy"
		       else wrong "$1: $line"; fi ;;
		*) wrong "$1: $line" ;;
		esac
	done <"$ERRF"
}

# grep -r over a ticket (or all): every line of every file must be a
# line of what was submitted there, and every file whole.
op_grep() {	# DIR OP
	local t0 prev= acc= line p c
	local -A bad=()
	t0=${EPOCHREALTIME/./}
	grep -r "" "$1" >"$TMPF" 2>"$ERRF"
	cnt "$2"
	while IFS= read -r line; do
		p=${line#grep: }; p=${p%: *}
		bad[$p]=1
	done <"$ERRF"
	walk_errors "$2"
	while IFS= read -r line; do
		p=${line%%:*}; c=${line#*:}
		if [ "$p" != "$prev" ]; then
			[ -n "$prev" ] && grep_judge "$prev" "$acc" "$t0" "$2" "${bad[$prev]:-}"
			prev=$p acc=
		fi
		acc+="$c"$'\n'
	done <"$TMPF"
	[ -n "$prev" ] && grep_judge "$prev" "$acc" "$t0" "$2" "${bad[$prev]:-}"
}
grep_judge() {	# PATH CONTENT T0 OP ERRED
	local rel=${1#"$MNT"/tickets/} id rest
	id=${rel%%/*}; rest=${rel#*/}
	if ! judge_time "$id" "$rest" "$3" "$4"; then cnt unverified; return; fi
	cnt "$4-files"
	# A file that went while grep read it may show a part: lines only.
	if [ -n "$5" ]; then return; fi
	if verify "$id" "$rest" "$2"; then cnt verified; else wrong "$4 $id/$rest: $WHY"; fi
}

# find over all tickets: sizes exact (known without decrypting), nothing
# listed past its deadline.
op_find() {
	local t0 p s y id rest
	t0=${EPOCHREALTIME/./}
	find "$MNT/tickets" -printf '%P\t%s\t%y\n' >"$TMPF" 2>"$ERRF"
	cnt find
	walk_errors find
	while IFS=$'\t' read -r p s y; do
		[[ $p == */* ]] || continue
		id=${p%%/*}; rest=${p#*/}
		judge_time "$id" "$rest" "$t0" find || continue
		[ "$y" = f ] || continue
		cnt find-files
		expect_for "$id" "$rest"
		[ -n "$EXP" ] || continue
		(( s == ${#EXP} )) && continue
		# A message being written shows empty until it is stored.
		[[ $rest == messages/* && $s == 0 ]] && continue
		wrong "find $id/$rest: size $s, want ${#EXP}"
	done <"$TMPF"
}

op_lsR() {	# OP
	ls -lR "$MNT/tickets" >/dev/null 2>"$ERRF"
	cnt "$1"
	walk_errors "$1"
}

# ls of a stable ticket and its authorizations: exactly what should be
# there, given the time.
ls_judge() {	# DIR-REST T0 T1 NAMES... (the expected ones)
	local prefix=$1 t0=$2 t1=$3 n rest out present
	shift 3
	out=" ${LISTED[*]} "
	for n; do
		rest=$prefix$n
		present=0
		[[ $out == *" $n "* ]] && present=1
		upper "$ID" "$rest"; lower "$ID" "$rest"
		if (( present && t0 > UP + SLACK_US )); then
			wrong "ls $ID/$rest listed $(( (t0 - UP) / 1000 )) ms after its deadline ($UPWHY)"
		elif (( !present && t1 < LO - SLACK_US )); then
			wrong "ls $ID/$rest missing $(( (LO - t1) / 1000 )) ms before its deadline"
		fi
		out=${out/ $n / }
	done
	[[ $out == *[![:space:]]* ]] && wrong "ls $ID/$prefix: unexpected entries:$out"
}
op_ls_stable() {
	local t0 t1 e
	pick_kind s || return
	t0=${EPOCHREALTIME/./}
	mapfile -t LISTED < <(ls -A "$MNT/tickets/$ID" 2>"$ERRF")
	t1=${EPOCHREALTIME/./}
	cnt ls-stable
	if [ -s "$ERRF" ]; then read -r e <"$ERRF"; judge_err "$ID" "" "$t1" "$e" ls-stable; return; fi
	ls_judge "" "$t0" "$t1" status created subject description username \
		email mobile confidential messages authorizations
	t0=${EPOCHREALTIME/./}
	mapfile -t LISTED < <(ls -A "$MNT/tickets/$ID/authorizations" 2>"$ERRF")
	t1=${EPOCHREALTIME/./}
	if [ -s "$ERRF" ]; then read -r e <"$ERRF"; judge_err "$ID" authorizations "$t1" "$e" ls-stable; return; fi
	ls_judge authorizations/ "$t0" "$t1" a1 a2
}

# stat of a few files of a stable ticket: exact sizes, or gone in time.
op_stat_stable() {
	local i rest t0 t1 out e
	pick_kind s || return
	for i in 1 2 3; do
		rest=${STABLE_FILES[RANDOM % ${#STABLE_FILES[@]}]}
		t0=${EPOCHREALTIME/./}
		out=$(stat -c %s -- "$MNT/tickets/$ID/$rest" 2>"$ERRF")
		t1=${EPOCHREALTIME/./}
		cnt stat
		if [ -n "$out" ]; then
			judge_time "$ID" "$rest" "$t0" stat || continue
			expect_for "$ID" "$rest"
			[ -n "$EXP" ] && (( out != ${#EXP} )) &&
				wrong "stat $ID/$rest: size $out, want ${#EXP}"
		else
			read -r e <"$ERRF"
			judge_err "$ID" "$rest" "$t1" "$e" stat
		fi
	done
}

# A reader (not an agent) writing status of a stable ticket: EACCES.
op_write_denied() {
	local e
	pick_kind s || return
	cnt write-denied
	if (echo processing >"$MNT/tickets/$ID/status") 2>"$ERRF"; then
		wrong "a reader changed the status of $ID"
		return
	fi
	read -r e <"$ERRF"; errkind "$e"
	case $EK in EACCES|ENOENT) ;; *) wrong "reader write of $ID/status: $e" ;; esac
}

# A descriptor opened before an authorization's expiry: read before it
# (must give the value), then after it (must fail, also where the first
# read left pages in the kernel's cache), through two descriptors.
op_late_fd() {
	local i now f res rest
	local -a r
	for i in 1 2 3 4 5 6; do
		pick_kind s || return
		now=${EPOCHREALTIME/./}
		(( TE1 - now > 400000 && TE1 - now < 4 * U1 )) && break
		TK=
	done
	[ -n "$TK" ] || return
	rest=authorizations/a1/password
	expect_for "$ID" "$rest"
	f="$MNT/tickets/$ID/$rest"
	res=$(perl -MTime::HiRes=time,sleep -e '
		my ($f, $e, $want, $slack) = @ARGV;
		my ($a, $b);
		unless (open($a, "<", $f) && open($b, "<", $f)) {
			print "open err", $!+0, " ", (time() < $e ? "before" : "after"), "\n";
			exit;
		}
		my $n = sysread($a, my $x, 65536);
		print "r1 ", (defined $n ? ($x eq $want ? "ok" : "bad") : "err".($!+0)),
		      " ", (time() < $e ? "before" : "after"), "\n";
		my $w = $e + $slack - time; sleep($w) if $w > 0;
		sysseek($a, 0, 0);
		$n = sysread($a, my $y, 65536);
		print "r2 ", (defined $n ? $n : "err".($!+0)), "\n";
		$n = sysread($b, my $z, 65536);
		print "r3 ", (defined $n ? $n : "err".($!+0)), "\n";
	' "$f" "$(( TE1 / U1 )).$(printf %06d $(( TE1 % U1 )))" "$EXP" "$LATE_SLACK" 2>&1)
	cnt late-fd
	mapfile -t r <<<"$res"
	case ${r[0]:-} in
	"r1 ok before") cnt late-fd-run ;;	# the floor counts these
	*" after") cnt late-fd-skipped; return ;;	# too slow to get there in time
	*) wrong "late-fd $ID/$rest: first read: ${r[0]:-}"; return ;;
	esac
	[ "${r[1]:-}" = "r2 err2" ] || wrong "late-fd $ID/$rest: read after expiry through a descriptor that had read: ${r[1]:-} (want ENOENT)"
	[ "${r[2]:-}" = "r3 err2" ] || wrong "late-fd $ID/$rest: read after expiry through a descriptor opened before: ${r[2]:-} (want ENOENT)"
}

# The same for a directory: authorizations/ opened before a1 expires and
# read after it must not list a1, nor must a listing after that (the
# kernel caches what a readdir returns).
op_late_dir() {
	local i now res d
	for i in 1 2 3 4 5 6; do
		pick_kind s || return
		now=${EPOCHREALTIME/./}
		(( TE1 - now > 400000 && TE1 - now < 4 * U1 )) && break
		TK=
	done
	[ -n "$TK" ] || return
	d=$MNT/tickets/$ID/authorizations
	res=$(perl -MTime::HiRes=time,sleep -e '
		my ($d, $e, $slack) = @ARGV;
		opendir(my $h, $d) or do { print "open err", $!+0, " ",
			(time() < $e ? "before" : "after"), "\n"; exit };
		print "opened ", (time() < $e ? "before" : "after"), "\n";
		my $w = $e + $slack - time; sleep($w) if $w > 0;
		my @n = grep { !/^\.\.?$/ } readdir($h);
		print "list @n\n";
	' "$d" "$(( TE1 / U1 )).$(printf %06d $(( TE1 % U1 )))" "$LATE_SLACK" 2>&1)
	cnt late-dir
	case $res in
	"opened before"*) cnt late-dir-run ;;
	*after*) cnt late-dir-skipped; return ;;
	*) wrong "late-dir $ID/authorizations: $res"; return ;;
	esac
	[[ "$res " == *" a1 "* ]] &&
		wrong "late-dir $ID/authorizations: opened before a1 expired, read after it: ${res#*list}"
	res=$(ls -A "$d" 2>/dev/null | tr '\n' ' ')
	[[ " $res" == *" a1 "* ]] &&
		wrong "late-dir $ID/authorizations: ls after that still lists a1 (kernel readdir cache): $res"
}

# A reader or an agent that only reads.
w_reader() {
	local r
	while running; do
		r=$((RANDOM % 100))
		if (( r < 30 )); then
			pick_kind s && read_check "$ID" "${STABLE_FILES[RANDOM % ${#STABLE_FILES[@]}]}" cat
		elif (( r < 45 )); then
			pick_id && walk_pick "$ID" && read_check "$ID" "$REST" cat
		elif (( r < 55 )); then
			pick_id && op_grep "$MNT/tickets/$ID" grep
		elif (( r < 58 )); then
			op_grep "$MNT/tickets" grep-all
		elif (( r < 64 )); then
			op_find
		elif (( r < 70 )); then
			op_lsR ls-R
		elif (( r < 80 )); then
			op_ls_stable
		elif (( r < 90 )); then
			op_stat_stable
		elif (( r < 92 )); then
			op_late_fd
		elif (( r < 94 )); then
			op_late_dir
		elif [ "$ROLE" = reader ]; then
			op_write_denied
		fi
		maybe_flush
	done
}

# Descriptors and directories held across an expiry, one after the
# other: the readers make few such runs (each waits for its deadline), and
# the run's floor counts them.
w_late() {
	local a b
	while running; do
		a=$(stat_local late-fd-run) b=$(stat_local late-dir-run)
		op_late_fd
		op_late_dir
		# No candidate (no stable ticket's a1 due 0.4-4 s from now): wait.
		[ "$a$b" = "$(stat_local late-fd-run)$(stat_local late-dir-run)" ] && sleep 0.2
		maybe_flush
	done
}
stat_local() { echo "${C[$1]:-0}"; }

# The auditor: lists and reads metadata, never a sealed value; reads the
# trail, whose every line is whole, JSON, in sequence.
w_auditor() {
	local r t0 out e line p
	while running; do
		r=$((RANDOM % 100))
		if (( r < 30 )); then
			pick_id || continue
			p=${SEALED[RANDOM % ${#SEALED[@]}]}
			(( RANDOM % 3 )) || { walk_pick "$ID" && p=$REST; }
			if out=$(cat -- "$MNT/tickets/$ID/$p" 2>"$ERRF"); then
				case $p in status|created|*/expires) cnt meta ;;
				*) wrong "the auditor read $ID/$p: $(printf %q "${out:0:60}")" ;;
				esac
			else
				read -r e <"$ERRF"; errkind "$e"
				case $EK in EACCES|ENOENT) cnt "sealed-$EK" ;;
				*) wrong "auditor cat $ID/$p: $e" ;; esac
			fi
		elif (( r < 45 )); then
			pick_id && read_check "$ID" status status
		elif (( r < 60 )); then
			pick_id || continue
			grep -r "" "$MNT/tickets/$ID" >"$TMPF" 2>"$ERRF"
			cnt grep
			while IFS= read -r line; do
				p=${line%%:*}
				case $p in */status|*/created|*/expires) cnt grep-meta ;;
				*) wrong "auditor grep read a sealed file: $(printf %q "${line:0:120}")" ;;
				esac
			done <"$TMPF"
			while IFS= read -r line; do
				errkind "$line"
				case $EK in
				EACCES) case $line in */status:*|*/created:*|*/expires:*)
						wrong "auditor grep: $line" ;;
					*) cnt grep-denied ;; esac ;;
				ENOENT) cnt grep-enoent ;;
				*) wrong "auditor grep: $line" ;;
				esac
			done <"$ERRF"
		elif (( r < 75 )); then
			op_lsR ls-R
		else
			audit_tail
		fi
		maybe_flush
	done
}
audit_tail() {
	local out
	cnt audit-tail
	if ! tail -c 65536 "$MNT/audit.log" >"$TMPF" 2>"$ERRF"; then
		wrong "auditor tail audit.log: $(head -1 "$ERRF")"
		return
	fi
	[ -s "$TMPF" ] || return
	[ "$(tail -c 1 "$TMPF" | od -An -c | tr -d ' ')" = '\n' ] ||
		wrong "audit.log does not end in a whole line"
	# The first line may be cut by tail -c: skip it.
	out=$(sed 1d "$TMPF" | jq -r .seq 2>&1 |
	      awk 'NR > 1 && $1 != last + 1 { print "seq " last " then " $1; exit }
	           $1 !~ /^[0-9]+$/ { print "not JSON: " $0; exit } { last = $1 }')
	[ -z "$out" ] || wrong "audit.log: $out"
}

# A uid with no role: EACCES for everything below the root, no output.
w_stranger() {
	local r out ids id
	while running; do
		mapfile -t ids < <(ls "$M/t" | grep -v tmp)
		id=${ids[RANDOM % (${#ids[@]} > 0 ? ${#ids[@]} : 1)]:-x}
		r=$((RANDOM % 6))
		case $r in
		0) out=$(ls "$MNT/tickets" 2>&1) ;;
		1) out=$(cat "$MNT/tickets/$id/subject" 2>&1) ;;
		2) out=$(stat "$MNT/tickets/$id" 2>&1) ;;
		3) out=$(grep -r "" "$MNT/tickets" 2>&1) ;;
		4) out=$(cat "$MNT/audit.log" 2>&1) ;;
		5) out=$(cat "$MNT/tickets/$id/authorizations/a1/password" 2>&1) ;;
		esac
		if [ $? -eq 0 ] || [[ $out == *tfs\ * ]]; then
			wrong "stranger op $r on $id succeeded: $(printf %q "${out:0:120}")"
		else
			while IFS= read -r e; do
				errkind "$e"
				[ "$EK" = EACCES ] || wrong "stranger op $r on $id: $e"
			done <<<"$out"
		fi
		cnt "op$r"
		maybe_flush
	done
}

# The uid the config worker adds and removes: when it may read, it reads
# what was submitted; otherwise EACCES.
w_tempuid() {
	local out e
	while running; do
		id=$(ls "$M/t" | grep -v tmp | shuf -n 1)
		[ -n "$id" ] && tinfo "$id" && [ "$TKIND" = s ] || { sleep 0.1; continue; }
		t0=${EPOCHREALTIME/./}
		if out=$(cat "$MNT/tickets/$id/subject" 2>"$ERRF" && echo .); then
			cnt granted
			judge_ok "$id" subject "$t0" "${out%.}" cat
		else
			read -r e <"$ERRF"; errkind "$e"
			case $EK in EACCES|ENOENT) cnt "$EK" ;; *) wrong "temp uid: $e" ;; esac
		fi
		maybe_flush
	done
}

# An agent writing: messages, status moves, removals, forbidden changes;
# on volatile tickets of its own (number mod STRESS_WRITERS), recording in
# the map when what went, and checking what it did at once.
w_writer() {
	local idx=$1 r j=0 T n t1 e cur next f v
	local -a v2
	while running; do
		pick_kind v "$idx" || { sleep 0.05; continue; }
		T=$MNT/tickets/$ID
		r=$((RANDOM % 100))
		if (( r < 30 )); then
			j=$((j + 1)); n=w${j}x$idx
			if (printf 'tfs %s message %s\n' "$TK" "$n" >"$T/messages/$n") 2>"$ERRF"; then
				t1=${EPOCHREALTIME/./}
				mset "$M/msg/${ID}_$n" "$t1 0"
				cnt message
				read_check "$ID" "messages/$n" readback
			else
				read -r e <"$ERRF"; wr_err message "$e"
			fi
		elif (( r < 45 )); then
			cur=$(cat "$T/status" 2>/dev/null) || { cnt status-enoent; continue; }
			case $cur in
			open) next=processing; (( RANDOM % 3 )) || next=processed ;;
			processing) next=processed ;;
			processed) next=open ;;
			*) wrong "status of $ID: $(printf %q "$cur")"; continue ;;
			esac
			if (echo "$next" >"$T/status") 2>"$ERRF"; then
				t1=${EPOCHREALTIME/./}
				[ "$cur" = processed ] && { wrong "status $ID moved back processed -> $next"; continue; }
				cnt "status-$next"
				# Read back at once (status is cached by the
				# kernel): the move, never the value before it.
				# Gone (ENOENT) is fine: processed+3 s.
				if got=$(cat "$T/status" 2>/dev/null); then
					if [ "$got" = "$next" ]; then cnt status-readback
					else wrong "stale status of $ID: $(printf %q "$got") right after the move to $next"; fi
				fi
				if [ "$next" = processed ]; then
					mset "$M/proc/$ID" "$t1"
					for f in email mobile confidential; do
						gone_after "$t1" "$ID/$f" test ! -e "$T/$f"
					done
					gone_after "$t1" "$ID/authorizations/*" \
						eval '[ -z "$(ls -A "$T/authorizations" 2>/dev/null)" ]'
				fi
			else
				read -r e <"$ERRF"; errkind "$e"
				if [ "$cur" = processed ] && [ "$EK" = EPERM ]; then cnt status-back-refused
				else wr_err status "$e"; fi
			fi
		elif (( r < 55 )); then
			f=$(shuf -n 1 -e email mobile confidential description username subject)
			wr_rm "$T/$f" "$f"
		elif (( r < 65 )); then
			mapfile -t v2 < <(ls -A "$T/messages" 2>/dev/null)
			(( ${#v2[@]} )) && wr_rm "$T/messages/${v2[RANDOM % ${#v2[@]}]}"
		elif (( r < 75 )); then
			mapfile -t v2 < <(ls -A "$T/authorizations" 2>/dev/null)
			(( ${#v2[@]} )) || continue
			v=${v2[RANDOM % ${#v2[@]}]}
			if (( RANDOM % 2 )); then wr_rm "$T/authorizations/$v" "authorizations~$v" -r
			else wr_rm "$T/authorizations/$v/password"; fi
		elif (( r < 78 )); then
			wr_rm "$T" @ -r
		elif (( r < 88 )); then
			wr_forbidden "$T"
		else
			walk_pick "$ID" && read_check "$ID" "$REST" cat
		fi
		maybe_flush
	done
}
# gone_after T1 WHAT TEST...: after processing (acknowledged at T1), what
# it removed must be gone.  The daemon has removed it before the write
# returned, but the kernel may still hold the entry until the ticker's
# notification reaches it: such a window is a note (with its length), a
# wrong answer only past 1 s.
gone_after() {
	local t1=$1 what=$2 now
	shift 2
	"$@" && return
	while ! "$@"; do
		now=${EPOCHREALTIME/./}
		if (( now - t1 > 2 * U1 )); then
			wrong "$what still there 2 s after processed"
			return
		fi
		sleep 0.01
	done
	now=${EPOCHREALTIME/./}
	cnt processed-stale
	echo "$(( (now - t1) / 1000 )) $what" >>"$OUT/notes.$WN"
	(( now - t1 <= U1 )) || wrong "$what still there $(( (now - t1) / 1000 )) ms after processed"
}
# wr_err OP ERRTEXT: the ticket may have gone (ENOENT); nothing else.
wr_err() {
	errkind "$2"
	if [ "$EK" = ENOENT ]; then cnt "$1-enoent"; else wrong "$1 $ID: $2"; fi
}
# wr_rm PATH [GONEKEY] [-r]: removes, records, checks it is gone.
wr_rm() {
	local key=${2:-${1#"$MNT"/tickets/*/}} t1 e
	key=${key//\//\~}
	if rm ${3:-} -- "$1" 2>"$ERRF"; then
		t1=${EPOCHREALTIME/./}
		mset "$M/gone/${ID}_$key" "$t1"
		cnt "rm${3:-}"
		[ -e "$1" ] && wrong "rm $1 succeeded but it is still there"
	else
		read -r e <"$ERRF"; errkind "$e"
		case $EK in
		ENOENT) cnt rm-enoent ;;
		# rm -r racing intake (a new message) or an expiry.
		ENOTEMPTY) [ -n "${3:-}" ] && cnt rm-conflict || wrong "rm $1: $e" ;;
		*) wrong "rm ${3:-} $1: $e" ;;
		esac
	fi
}
# What an agent may not do: each must fail and change nothing.
wr_forbidden() {
	local T=$1 e m
	m=$(ls "$T/messages" 2>/dev/null | head -1)
	cnt forbidden
	if (echo x >"$T/subject") 2>"$ERRF"; then wrong "write to $T/subject succeeded"
	else read -r e <"$ERRF"; errkind "$e"
		# EPERM: the field was removed, so this is a new file.
		case $EK in EACCES|EPERM|ENOENT) ;; *) wrong "write to sealed: $e" ;; esac; fi
	if mkdir "$T/newdir" 2>"$ERRF"; then wrong "mkdir in $T succeeded"
	else read -r e <"$ERRF"; errkind "$e"
		case $EK in EPERM|ENOENT) ;; *) wrong "mkdir: $e" ;; esac; fi
	if [ -n "$m" ]; then
		if mv "$T/messages/$m" "$T/messages/$m.renamed" 2>"$ERRF"; then
			wrong "rename of $T/messages/$m succeeded"
		else read -r e <"$ERRF"; errkind "$e"
			case $EK in EPERM|ENOENT) ;; *) wrong "rename: $e" ;; esac; fi
	fi
	if (echo done >"$T/status") 2>"$ERRF"; then wrong "status 'done' accepted for $T"
	else read -r e <"$ERRF"; errkind "$e"
		case $EK in EINVAL|ENOENT) ;; *) wrong "bad status word: $e" ;; esac; fi
}

# Intake, as root: tickets (one at a time and in batches), messages,
# authorizations expiring a few seconds ahead, revocations.
mk_ticket() {	# K E1 E2 (seconds) -> JSON
	local k=$1 x1 x2 a d
	desc_of "$k"; d=${DESC//$'\n'/\\n}
	printf -v x1 '%(%Y-%m-%dT%H:%M:%SZ)T' "$2"
	printf -v x2 '%(%Y-%m-%dT%H:%M:%SZ)T' "$3"
	JSON="{\"username\":\"tfs $k username\",\"subject\":\"tfs $k subject\",\"description\":\"$d\",\"email\":\"tfs $k email\",\"mobile\":\"tfs $k mobile\",\"confidential\":\"tfs $k confidential\",\"authorizations\":["
	for a in a1 a2; do
		JSON+="{\"account\":\"tfs $k auth $a account\",\"password\":\"tfs $k auth $a password\",\"resource\":\"tfs $k auth $a resource\",\"expires\":\"$([ $a = a1 ] && echo "$x1" || echo "$x2")\"},"
	done
	JSON="${JSON%,}]}"
}
in_submit() {	# COUNT
	local n=$1 i s0 s1 e1 ids kind
	local -a ks=() kinds=() e1s=() out
	s0=${EPOCHREALTIME/./}
	: >"$TMPF"
	for ((i = 0; i < n; i++)); do
		ks+=("$NEXTK"); kind=v; (( NEXTK % 2 )) && kind=s; kinds+=("$kind")
		e1=$(( s0 / U1 + 4 + RANDOM % 9 )); e1s+=("$e1")
		mk_ticket "$NEXTK" "$e1" $(( s0 / U1 + 3600 ))
		printf '%s\n' "$JSON" >>"$TMPF"
		NEXTK=$((NEXTK + 1))
	done
	if (( n == 1 )); then
		ids=$("$TICKETCTL" submit "$STORE" "$TMPF" 2>"$ERRF")
	else
		ids=$("$TICKETCTL" submit --batch "$STORE" "$TMPF" 2>"$ERRF")
	fi || { wrong "ticketctl submit: $(head -3 "$ERRF")"; return; }
	s1=${EPOCHREALTIME/./}
	mapfile -t out <<<"$ids"
	(( ${#out[@]} == n )) || { wrong "submit printed ${#out[@]} ids for $n"; return; }
	for ((i = 0; i < n; i++)); do
		mset "$M/t/${out[i]}" "${ks[i]} ${kinds[i]} $s0 $s1 $(( e1s[i] * U1 )) $(( (s0 / U1 + 3600) * U1 ))"
		[ "${kinds[i]}" = v ] && VL+=("${out[i]} ${ks[i]} $s1")
	done
	if (( n == 1 )); then cnt submit; else cnt submit-batch; fi
	cnt tickets
	(( n > 1 )) && C[tickets]=$(( C[tickets] + n - 1 ))
}
# in_pick: a volatile ticket submitted lately (VID, VK).
in_pick() {
	local now=${EPOCHREALTIME/./} id k s
	while (( ${#VL[@]} )); do
		read -r id k s <<<"${VL[0]}"
		(( now - s < (D_TICKET - 2) * U1 )) && break
		VL=("${VL[@]:1}")
	done
	(( ${#VL[@]} )) || return 1
	read -r VID VK s <<<"${VL[RANDOM % ${#VL[@]}]}"
}
# in_err OP: a ticket a writer deleted or processed (or that expired) is
# no longer in the store; any other refusal is wrong.
in_err() {
	local e
	read -r e <"$ERRF"
	case $e in
	*"no ticket"*) cnt "$1-gone" ;;
	*) wrong "ticketctl $1: $e" ;;
	esac
}
w_intake() {
	local r name t1 e j=0 x now
	NEXTK=1; VL=(); AL=()
	in_submit 10
	while running; do
		r=$((RANDOM % 100))
		if (( r < 30 )); then
			in_submit 1
		elif (( r < 34 )); then
			in_submit 4
		elif (( r < 55 )); then
			in_pick || continue
			j=$((j + 1))
			if name=$(printf 'tfs %s message i%s\n' "$VK" "$j" |
			          "$TICKETCTL" message "$STORE" "$VID" 2>"$ERRF"); then
				t1=${EPOCHREALTIME/./}
				mset "$M/msg/${VID}_$name" "$t1 $j"
				cnt message
			else
				in_err message
			fi
		elif (( r < 75 )); then
			in_pick || continue
			j=$((j + 1))
			e=$(( ${EPOCHREALTIME%.*} + 3 + RANDOM % 6 ))
			printf -v x '%(%Y-%m-%dT%H:%M:%SZ)T' "$e"
			if name=$(printf '{"account":"tfs %s auth i%s account","password":"tfs %s auth i%s password","resource":"tfs %s auth i%s resource","expires":"%s"}' \
			          "$VK" "$j" "$VK" "$j" "$VK" "$j" "$x" |
			          "$TICKETCTL" authorize "$STORE" "$VID" 2>"$ERRF"); then
				mset "$M/exp/${VID}_$name" "$(( e * U1 )) $j"
				AL+=("$VID $name $e")
				cnt authorize
			else
				in_err authorize
			fi
		elif (( r < 85 )); then
			# The latest authorization, likely still valid.
			(( ${#AL[@]} )) || continue
			read -r VID name e <<<"${AL[-1]}"
			unset 'AL[-1]'
			(( ${#AL[@]} < 64 )) || AL=("${AL[@]:32}")
			now=${EPOCHREALTIME%.*}
			(( e > now + 1 )) || continue
			if "$TICKETCTL" revoke "$STORE" "$VID" "$name" 2>"$ERRF" >/dev/null; then
				mset "$M/rev/${VID}_$name" "${EPOCHREALTIME/./}"
				cnt revoke
			else
				in_err revoke
			fi
		fi
		sleep 0.1	# about 100 live tickets whatever the build's speed
		maybe_flush
	done
}

# Config churn, as root: the whitelist touched, rewritten with the same
# content, a uid added and removed (always by rename, so the daemon never
# reads half a file), the policy touched, SIGHUP.
w_config() {
	local wl=$STORE/whitelist base=$OUT/whitelist.base free
	while running; do
		sleep "0.$((3 + RANDOM % 9))"
		case $((RANDOM % 6)) in
		0) touch "$wl"; cnt wl-touch ;;
		1) cp "$wl" "$wl.tmp" && mv -f "$wl.tmp" "$wl"; cnt wl-rewrite ;;
		2) { cat "$base"; echo "$TEMPUID reader"; } >"$wl.tmp" && mv -f "$wl.tmp" "$wl"
		   cnt wl-add-uid ;;
		3) cp "$base" "$wl.tmp" && mv -f "$wl.tmp" "$wl"; cnt wl-remove-uid ;;
		4) touch "$STORE/policy"; cnt policy-touch ;;
		5) kill -HUP "$DPID" && cnt sighup ;;
		esac
		# Others' jobs may fill the disk: then ENOSPC, not the daemon, is
		# what went wrong (the summary says so).
		free=$(df --output=avail -k "$STORE" | tail -1)
		(( free > 262144 )) || echo "$free" >>"$OUT/disk-low"
		w_flush
	done
}

w_main() {	# ROLE NAME [ARG]
	ROLE=$1 WN=$2
	declare -gA C=() DESCS=() SEEN=()
	ERRF=$OUT/err.$WN TMPF=$OUT/tmp.$WN LIST=() LIST_AT=0 LISTED=() FLUSH_AT=0
	RANDOM=$(( $$ ^ 10#${EPOCHREALTIME#*.} ))
	: >"$ERRF"
	case $ROLE in
	agent|reader) w_reader ;;
	late) w_late ;;
	auditor) w_auditor ;;
	stranger) w_stranger ;;
	tempuid) w_tempuid ;;
	writer) w_writer "$3" ;;
	intake) w_intake ;;
	config) w_config ;;
	esac
	w_flush
}

# ---------------------------------------------------------------------------
# One round against a bin dir: store, daemon, workers, checks, summary.

# san_grep FILES...: the lines that start a sanitizer report.
san_grep() {
	grep -h -E 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|Sanitizer has encountered a fatal error|ThreadSanitizer: (unexpected|FATAL)|^FATAL: ' "$@" 2>/dev/null
}

# stat_sum KEY: a worker count summed over all workers.
stat_sum() {
	cat "$OUT"/stats.* 2>/dev/null | awk -v k="$1" '$2 == k { n += $3 } END { print n + 0 }'
}

# floor_check SECONDS: prints each floor and what the run did; 1 if any
# count is below its floor.  A floor is a rate a second times SECONDS, and
# at least a minimum: a quarter of the worst of the 18 s runs measured on a
# loaded 2-core machine (Release, ASan, TSan alike; README, Stress test).
th() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }	# 12345 -> 12,345
floor_check() {
	local secs=$1 rc=0 key got want
	local -A rate=([verified]=25 [late-fd-run]=0.0625 [late-dir-run]=0.0625 [seen]=0.2)
	local -A min=([verified]=100 [late-fd-run]=1 [late-dir-run]=1 [seen]=2)
	local -A name=([verified]="verified reads" [late-fd-run]="late-descriptor runs"
		[late-dir-run]="late-directory runs" [seen]="stable tickets seen")
	for key in verified late-fd-run late-dir-run seen; do
		want=$(awk -v r="${rate[$key]}" -v s="$secs" -v m="${min[$key]}" \
			'BEGIN { w = int(r * s); print (w > m ? w : m) }')
		if [ "$key" = seen ]; then
			got=$(cat "$OUT"/seen.* 2>/dev/null | grep -v '^$' | sort -u | wc -l)
		else
			got=$(stat_sum "$key")
		fi
		if (( got >= want )); then
			echo "stress: ${name[$key]} $(th "$got") >= floor $(th "$want")"
		else
			echo "stress: FLOOR: ${name[$key]} $(th "$got") < floor $(th "$want")"; rc=1
		fi
	done
	return $rc
}

round() {	# BIN SECONDS
	local bin=${1:?} secs=${2:?} san p n t_start elapsed rc drc=0 \
	      fail=0 hung=0 i nwrong nsan canary=
	. "$SRC/tests/integration/lib.sh" "$bin"
	case $(ldd "$TICKETFS") in
	*libtsan*) san=tsan ;;
	*libasan*) san=asan ;;
	*) san=none ;;
	esac
	export OUT=$WORK/out M=$WORK/map MNT STORE TICKETCTL
	mkdir -p "$OUT" "$M"/{t,msg,exp,rev,gone,proc} "$WORK/san"
	chmod 1777 "$OUT" "$M" "$M"/*
	# The workers run a copy: the source tree may not be readable by them.
	cp "$SELF" "$WORK/stress.sh" && chmod 755 "$WORK/stress.sh"
	# Second-scale retention, so expiries fire all the time.
	export D_EMAIL=6 D_MOBILE=10 D_MSG=15 D_TICKET=40 D_PROC=3 REV_SLACK=5
	export SLACK_US=$(( ${STRESS_SLACK_MS:-50} * 1000 )) LATE_SLACK=0.5
	export NW=${STRESS_WRITERS:-2}
	local nr=${STRESS_READERS:-2}
	new_store
	cp "$STORE/whitelist" "$OUT/whitelist.base"
	cat >"$STORE/policy" <<POL
# tools/stress.sh: second-scale periods
email          processed, ${D_EMAIL}s
mobile         processed, ${D_MOBILE}s
confidential   processed
authorization  processed, expired
message        ${D_MSG}s
ticket         processed+${D_PROC}s, ${D_TICKET}s
POL

	# Sanitizers: reports to files, leaks checked at the daemon's exit.
	# Each run proves its sanitizer works on the daemon with a canary: a
	# library preloaded into the daemon alone that, from its constructor,
	# leaks one block from a thread (ASan: LeakSanitizer must find it) or
	# makes two threads race on a variable (TSan must see the race); the
	# canary is suppressed by name, and the summary fails unless the
	# sanitizer's list of matched suppressions names it.  For ASan this
	# also answers the daemon's prctl(PR_SET_DUMPABLE, 0): LeakSanitizer's
	# check at exit (ptrace-based) does run, here as root.
	cp "$SRC/tools/tsan.supp" "$WORK/tsan.supp" 2>/dev/null || : >"$WORK/tsan.supp"
	echo "race:ticketfs_stress_tsan_canary" >>"$WORK/tsan.supp"
	echo "leak:ticketfs_stress_canary" >"$WORK/lsan.supp"
	export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 print_suppressions=1 suppressions=$WORK/tsan.supp log_path=$WORK/san/tsan"
	export ASAN_OPTIONS="detect_leaks=1:log_path=$WORK/san/asan"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$WORK/san/ubsan"
	export LSAN_OPTIONS="suppressions=$WORK/lsan.supp:print_suppressions=1"
	local preload= canary_sym=
	case $san in
	asan)
		canary_sym=ticketfs_stress_canary
		cat >"$WORK/canary.c" <<'EOF'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
void *ticketfs_stress_canary(void *a) { char *p = malloc(4321); if (p) memset(p, 0x5a, 4321); p = 0; return a; }
__attribute__((constructor)) static void start(void) { pthread_t t; if (pthread_create(&t, 0, ticketfs_stress_canary, 0) == 0) pthread_join(t, 0); }
EOF
		cc -g -O0 -shared -fPIC -o "$WORK/canary.so" "$WORK/canary.c" -pthread &&
			preload="$(ldd "$TICKETFS" | awk '/libasan/ { print $3 }') $WORK/canary.so" ;;
	tsan)
		canary_sym=ticketfs_stress_tsan_canary
		cat >"$WORK/canary.c" <<'EOF'
#include <pthread.h>
static volatile int ticketfs_stress_race;
void *ticketfs_stress_tsan_canary(void *a) { ticketfs_stress_race++; return a; }
__attribute__((constructor)) static void start(void) { pthread_t a, b; if (pthread_create(&a, 0, ticketfs_stress_tsan_canary, 0) == 0) { if (pthread_create(&b, 0, ticketfs_stress_tsan_canary, 0) == 0) pthread_join(b, 0); pthread_join(a, 0); } }
EOF
		cc -g -O1 -fsanitize=thread -shared -fPIC -o "$WORK/canary.so" "$WORK/canary.c" -pthread &&
			preload=$WORK/canary.so ;;
	esac
	if [ -n "$canary_sym" ] && [ -z "$preload" ]; then
		echo "stress: cannot build the $san canary (no C compiler?)"
		canary_sym=
	fi

	echo "stress: $secs s against $bin ($san), $nr readers per uid, $NW writers," \
	     "cache=${STRESS_CACHE_MB:-1} MiB, prefetch=${STRESS_PREFETCH:-4}"
	# mount_fg, with the canary preloaded into the daemon alone.
	# A small value cache, so that evictions race with reads and removals,
	# and more prefetch threads than cores.
	LD_PRELOAD=$preload "$TICKETFS" "$STORE" "$MNT" -o key="$KEY" -f \
		-o cache="${STRESS_CACHE_MB:-1}",prefetch="${STRESS_PREFETCH:-4}" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_for mountpoint -q "$MNT" || { echo "stress: mount failed"; cat "$LOG"; exit 1; }
	export DPID=$DAEMON_PID
	t_start=${EPOCHREALTIME/./}
	export END_US=$(( t_start + secs * U1 ))
	EXTRA_CLEANUP='for p in ${pids[@]:-}; do kill -- -$p 2>/dev/null; done; stress_keep'

	# Each worker in its own session (so a hung one can be killed whole).
	spawn() {	# UID ROLE NAME [ARG]
		local u=$1; shift
		if [ "$u" = 0 ]; then
			setsid bash "$WORK/stress.sh" --worker "$@" &
		else
			setsid setpriv --reuid="$u" --regid="$u" --clear-groups \
				bash "$WORK/stress.sh" --worker "$@" &
		fi
		pids+=($!)
	}
	pids=()
	spawn 0 intake intake
	spawn 0 config config
	for ((i = 1; i <= nr; i++)); do
		spawn $AGENT agent agent$i
		spawn $READER reader reader$i
	done
	for ((i = 0; i < NW; i++)); do spawn $AGENT writer writer$i $i; done
	spawn $READER late late
	spawn $AUDITOR auditor auditor
	spawn $STRANGER stranger stranger
	spawn $TEMPUID tempuid tempuid

	# Workers stop by themselves at END_US; one still busy 120 s later is
	# stuck on the mount: a hang, and a failure.
	for p in "${pids[@]}"; do
		while kill -0 "$p" 2>/dev/null; do
			if (( ${EPOCHREALTIME/./} > END_US + 120 * U1 )); then
				hung=$((hung + 1))
				echo "stress: HANG: worker $p still running 120 s after the end"
				ps -o pid,stat,wchan:20,args --ppid "$p" 2>/dev/null
				kill -KILL -- -"$p" 2>/dev/null
				break
			fi
			sleep 0.5
		done
		wait "$p" 2>/dev/null || { echo "stress: worker $p exited $?"; fail=1; }
	done
	n=$(ls "$OUT" | grep -c '^stats\.[^.]*$')
	(( n == ${#pids[@]} )) || { echo "stress: $n of ${#pids[@]} workers wrote their counts"; fail=1; }
	elapsed=$(( (${EPOCHREALTIME/./} - t_start) / 1000 ))

	# Unmount, and the daemon must exit (its leak check runs then).
	umount_fs
	for i in $(seq 600); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		echo "stress: the daemon did not exit within 120 s of the unmount"
		kill -9 "$DAEMON_PID"; fail=1
	fi
	wait "$DAEMON_PID"; drc=$?
	DAEMON_PID=
	[ "$drc" -eq 0 ] || { echo "stress: the daemon exited $drc"; fail=1; }

	# Sanitizer reports: the log files, and the daemon's stderr.
	nsan=$(san_grep "$WORK"/san/* "$LOG" | wc -l)
	if [ -n "$canary_sym" ]; then
		canary=missing
		grep -q "$canary_sym" "$WORK"/san/* 2>/dev/null && canary=found
		[ "$canary" = found ] || { echo "stress: $san did not report its canary: its checks did not run in the daemon"; fail=1; }
	fi
	grep -q "damaged record" "$LOG" && { echo "stress: a damaged record was logged"; fail=1; }

	# The store and the trail, at rest.
	local fsck=ok audit=ok
	"$TICKETCTL" fsck "$STORE" --key "$KEY" >"$OUT/fsck.txt" 2>&1 || { fsck=FAILED; fail=1; }
	"$TICKETCTL" audit verify "$STORE" --key "$KEY" >"$OUT/audit-verify.txt" 2>&1 || { audit=FAILED; fail=1; }

	# Floors on the work verified: a daemon that lists nothing, or answers
	# too slowly for a check to run, must not pass for want of questions.
	local floors
	floors=$(floor_check "$secs") || fail=1

	# Summary.
	nwrong=$(cat "$OUT"/wrong.* 2>/dev/null | wc -l)
	echo "stress: ran $(( elapsed / 1000 )).$(printf %03d $(( elapsed % 1000 ))) s ($san); operations by worker role:"
	cat "$OUT"/stats.* 2>/dev/null | awk '$2 != "WRONG" { n[$1 " " $2] += $3 }
		END { for (k in n) printf "  %-30s %8d\n", k, n[k] }' | sort
	echo "stress: tickets in the store at the end: $(ls "$STORE/tickets" | grep -vc '^\.' || true)," \
	     "audit entries: $(cat "$STORE"/audit/* 2>/dev/null | grep -c '"seq"')"
	if cat "$OUT"/notes.* >/dev/null 2>&1; then
		echo "stress: entries the kernel still showed after processing (ms until gone):" \
		     "$(cat "$OUT"/notes.* | sort -n | awk '{ v[NR] = $1 } END { printf "%d, median %d, max %d", NR, v[int((NR + 1) / 2)], v[NR] }')"
	fi
	[ -s "$OUT/disk-low" ] && echo "stress: WARNING: the disk was nearly full during the run" \
		"(down to $(sort -n "$OUT/disk-low" | head -1) KiB free): ENOSPC may explain failures"
	echo "stress: wrong answers: $nwrong"
	cat "$OUT"/wrong.* 2>/dev/null | head -40 | sed 's/^/  /'
	echo "stress: sanitizer reports: $nsan${canary:+ (canary: $canary)}"
	grep -h -A20 -E "Matched [0-9]+ suppressions|^Suppressions used" "$WORK"/san/* 2>/dev/null |
		grep -v -E "canary|Matched|Suppressions used|count +bytes|^--$|^-+$|^$" | sed 's/^/  /'
	san_grep "$WORK"/san/* "$LOG" | sort | uniq -c | sed 's/^/  /'
	for f in "$WORK"/san/*; do
		[ -e "$f" ] || continue
		san_grep "$f" >/dev/null && { echo "--- $f"; head -60 "$f"; }
	done
	echo "$floors"
	echo "stress: fsck --key: $fsck; audit verify: $audit; hangs: $hung; daemon exit: $drc"
	[ "$fsck" = ok ] || sed 's/^/  /' "$OUT/fsck.txt" | head -20
	[ "$audit" = ok ] || sed 's/^/  /' "$OUT/audit-verify.txt" | head -20
	(( nwrong == 0 && nsan == 0 && hung == 0 && fail == 0 ))
	rc=$?
	[ $rc -eq 0 ] && echo "stress: PASS" || echo "stress: FAIL"
	exit $rc
}

# Keeps the logs when asked (STRESS_OUT), at exit whatever happened.
stress_keep() {
	[ -n "${STRESS_OUT:-}" ] || return 0
	mkdir -p "$STRESS_OUT"
	cp -r "$WORK/san" "$OUT" "$LOG" "$STRESS_OUT/" 2>/dev/null
	cp "$STORE/policy" "$STRESS_OUT/" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------------------
# All builds.

all_main() {
	local secs=${1:-60} b bin name out rc=0 r jobs
	[ "$(id -u)" -eq 0 ] || { echo "tools/stress.sh: run as root (FUSE, setpriv)"; exit 2; }
	[[ $secs =~ ^[0-9]+$ ]] || usage 2
	shift $(( $# > 0 ? 1 : 0 ))
	if [ $# -eq 0 ]; then
		jobs=$(nproc)
		cmake -S "$SRC" -B "$SRC/build-tsan" -DTS_TSAN=ON \
			-DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=OFF >/dev/null &&
		cmake --build "$SRC/build-tsan" -j"$jobs" >/dev/null &&
		cmake -S "$SRC" -B "$SRC/build-asan" -DTS_SANITIZE=ON \
			-DCMAKE_BUILD_TYPE=Debug >/dev/null &&
		cmake --build "$SRC/build-asan" -j"$jobs" >/dev/null || exit 1
		set -- "$SRC/build-tsan" "$SRC/build-asan"
	fi
	out=$(mktemp -d /tmp/ticketfs-stress.XXXXXX)
	for b; do
		bin=$b/bin
		[ -x "$bin/ticketfs" ] || bin=$b
		[ -x "$bin/ticketfs" ] || { echo "stress: no ticketfs in $b"; rc=1; continue; }
		name=$(basename "$(cd "$bin/.." && pwd)")
		STRESS_OUT=$out/$name bash "$SELF" --bin "$bin" "$secs" 2>&1 | tee "$out/$name.txt"
		r=${PIPESTATUS[0]}
		[ "$r" -eq 0 ] || rc=1
		echo
	done
	echo "stress: logs and reports in $out"
	for b in "$out"/*.txt; do echo "  $(basename "$b" .txt): $(tail -1 "$b")"; done
	exit $rc
}

case ${1:-} in
--worker) shift; w_main "$@" ;;
--bin) shift; [ $# -eq 2 ] || usage 2; round "$@" ;;
-h|--help) usage ;;
*) all_main "$@" ;;
esac
