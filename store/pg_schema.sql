-- ticketfs's PostgreSQL schema, version 2 (store/store_pg.c creates it
-- with `ticketctl init URI KEYFILE`, and migrates older versions: each
-- later version is a step of its own in store/store_pg.c's migrations[]:
-- version 2 added ts_audit_append_batch()).  No column
-- holds a plaintext sealed value: a ticket's record (store/record.h) is the
-- same bytes as a directory store's tickets/ID file, boxes and MAC
-- included; a ticket key is its wrapped key file (store/tkey.h).

-- The schema's version: one row.
CREATE TABLE ts_schema_version (version integer NOT NULL);
INSERT INTO ts_schema_version VALUES (2);
-- The version for any role, a front end's too (which may read no table
-- but ts_public_key): store_pg.c checks it at every open.
CREATE FUNCTION ts_schema_version_get() RETURNS integer
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT
	AS 'SELECT max(version) FROM ts_schema_version';

-- The store's public key, as STORE/public.key holds it: the one table a
-- front end's role may read (ticketctl grant).
CREATE TABLE ts_public_key (pk text NOT NULL);

-- Store-wide settings: 'policy' (the policy file's text).
CREATE TABLE ts_meta (name text PRIMARY KEY, value text NOT NULL);

-- One row a ticket: its record, and a version that each write bumps (a
-- write names the version it read: two hosts writing one ticket at once,
-- one wins, the other re-reads; store/pg_tickets.c).
-- id sorts as strcmp does (COLLATE "C"): a load reads the rows in the
-- primary key's order, as a directory store lists its sorted names.
CREATE TABLE ts_tickets (
	id text COLLATE "C" PRIMARY KEY,
	ver bigint NOT NULL,
	rec bytea NOT NULL
);

-- Ticket keys, apart from the records so that they can be backed up (and
-- kept) apart: the current key (next = false) and, while a rekey is under
-- way, the next.  at: when it was put; a load's clean-up of orphan keys
-- leaves young ones alone (another host may be between writing a key and
-- its record; store/pg_keys.c).
CREATE TABLE ts_ticket_keys (
	id text NOT NULL,
	next boolean NOT NULL,
	key bytea NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id, next)
);

-- Intake: records dropped by front ends (kind: enum ts_record_kind),
-- taken in by exactly one daemon (claimed: by whom and when; a claim older
-- than a minute is a dead daemon's and is taken over).
-- A record is at most TS_RECORD_MAX (64 MiB) and an id at most 64
-- bytes: a front end's role cannot fill the database with one row.
CREATE TABLE ts_intake (
	seq bigserial PRIMARY KEY,
	kind smallint NOT NULL,
	id text NOT NULL CHECK (octet_length(id) <= 64),
	rec bytea NOT NULL CHECK (octet_length(rec) <= 67108864),
	at timestamptz NOT NULL DEFAULT now(),
	claimed_by text,
	claimed_at timestamptz
);
CREATE INDEX ts_intake_id ON ts_intake (id);
-- What no daemon could take in, kept aside (the newest 1,000 / 64 MiB:
-- the rows rejected longest ago go first; store/pg_intake.c).
CREATE TABLE ts_intake_rejected (
	seq bigint PRIMARY KEY,
	kind smallint NOT NULL,
	id text NOT NULL,
	rec bytea NOT NULL,
	at timestamptz NOT NULL,
	why text NOT NULL,
	rejected_at timestamptz NOT NULL DEFAULT now()
);

-- Whether ticket tid exists, taken in or waiting in intake as a ticket:
-- for `ticketctl submit`'s and `message`'s check by a front end's role,
-- which may read no table but ts_public_key.  It runs as its owner
-- (SECURITY DEFINER) on a fixed search path with the tables named by
-- schema (no table of the caller's, a temporary one included, can stand
-- in), and tells only yes or no.  EXECUTE is granted by `ticketctl grant`.
CREATE FUNCTION ts_ticket_known(tid text) RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM public.ts_tickets WHERE id = tid)
	    OR EXISTS (SELECT 1 FROM public.ts_intake
	                WHERE id = tid AND kind = 1)
$$;
REVOKE ALL ON FUNCTION ts_ticket_known(text) FROM PUBLIC;

-- The audit trail: one hash chain a host (seq counts per host), gseq the
-- order of all hosts' entries together (MOUNT/audit.log).  line is the
-- entry as a directory store's segment file holds it, hash included, but
-- not its newline.  Rows are added by ts_audit_append() and
-- ts_audit_append_batch() only (below), so
-- that gseq order is commit order.
CREATE TABLE ts_audit (
	gseq bigserial PRIMARY KEY,
	host text NOT NULL,
	seq bigint NOT NULL,
	line text NOT NULL,
	UNIQUE (host, seq)
);
-- Each host's latest signed checkpoint, and its prune anchor.
CREATE TABLE ts_audit_checkpoint (
	host text NOT NULL,
	kind text NOT NULL CHECK (kind IN ('checkpoint', 'anchor')),
	seq bigint NOT NULL,
	hash bytea NOT NULL,
	sig bytea NOT NULL,
	PRIMARY KEY (host, kind)
);
-- Each host's forward-secure seals (store/audit.h): seals names the
-- sealing ("seals-ID", from its seed), line is the seal as a directory
-- store's audit/seals-ID file holds it (without its newline).
CREATE TABLE ts_audit_seals (
	host text NOT NULL,
	seals text NOT NULL,
	epoch bigint NOT NULL,
	line text NOT NULL,
	PRIMARY KEY (host, seals, epoch)
);
-- Appends entry s of host h's chain (store/pg_audit.c), in one statement:
-- one lock for every host's appends (gseq is then assigned in commit
-- order), and synchronous_commit off for this transaction only (the
-- daemon's checkpoint, committed synchronously, flushes the entries
-- before it).  Runs as its caller: it needs INSERT on ts_audit.  Entry s
-- follows entry s - 1 of the chain, which must be its last row (a prune
-- never removes the last): a chain whose tail was cut while its daemon ran
-- is not continued over the gap (SQLSTATE XX001, data_corrupted).
CREATE FUNCTION ts_audit_append(h text, s bigint, l text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	g bigint;
	last bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('ticketfs-audit-order'), 0);
	PERFORM set_config('synchronous_commit', 'off', true);
	SELECT max(seq) INTO last FROM ts_audit WHERE host = h;
	IF last IS DISTINCT FROM s - 1 AND NOT (last IS NULL AND s = 1) THEN
		RAISE EXCEPTION 'audit chain of host % ends at entry %, not %',
			h, last, s - 1 USING ERRCODE = 'data_corrupted';
	END IF;
	INSERT INTO ts_audit (host, seq, line) VALUES (h, s, l)
		RETURNING gseq INTO g;
	RETURN g;
END
$$;
-- Appends entries s, s + 1, ... of host h's chain, ls[1], ls[2], ... (a
-- daemon's audit spool ships a batch so, store/pg_audit_ship.c): as that
-- many calls of ts_audit_append() in one statement, but the lock taken and
-- the chain's tail read once; gseq follows seq.  Returns how many rows.
-- Since schema version 2 (the same text is its migration step in
-- store/store_pg.c).
CREATE FUNCTION ts_audit_append_batch(h text, s bigint, ls text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	last bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('ticketfs-audit-order'), 0);
	PERFORM set_config('synchronous_commit', 'off', true);
	SELECT max(seq) INTO last FROM ts_audit WHERE host = h;
	IF last IS DISTINCT FROM s - 1 AND NOT (last IS NULL AND s = 1) THEN
		RAISE EXCEPTION 'audit chain of host % ends at entry %, not %',
			h, last, s - 1 USING ERRCODE = 'data_corrupted';
	END IF;
	INSERT INTO ts_audit (host, seq, line)
		SELECT h, s + u.o - 1, u.l
		FROM unnest(ls) WITH ORDINALITY AS u(l, o) ORDER BY u.o;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- Changes to tickets, for the other hosts: a row for each write or
-- removal (id only, never data), announced by NOTIFY ts_changes with
-- payload "N ID HOST"; a host that was away reads the rows after the last
-- N it saw.  Old rows are pruned by the daemons.
CREATE TABLE ts_changes (
	n bigserial PRIMARY KEY,
	id text NOT NULL,
	host text NOT NULL,
	at timestamptz NOT NULL DEFAULT now()
);
