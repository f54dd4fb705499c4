-- Einwurf central, schema 1 (SQLite). Times are Unix nanoseconds, 0 = none.
-- No personal data: kiosks, packets and operators are named by id only.

-- The ingest's ledger: one row per packet, first a claim (owner, lease),
-- then its final answer (status <> '').
CREATE TABLE packets (
	kiosk_id     TEXT    NOT NULL,
	packet_id    TEXT    NOT NULL,
	owner        TEXT    NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0,
	status       TEXT    NOT NULL DEFAULT '',
	receipt      BLOB,
	receipt_code TEXT    NOT NULL DEFAULT '',
	team         TEXT    NOT NULL DEFAULT '',
	pages        INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL DEFAULT 0,
	received     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kiosk_id, packet_id)
);
CREATE INDEX packets_code ON packets (receipt_code) WHERE receipt_code <> '';
CREATE INDEX packets_received ON packets (received) WHERE status <> '';

CREATE TABLE kiosks (
	kiosk_id       TEXT    NOT NULL PRIMARY KEY,
	site           TEXT    NOT NULL DEFAULT '',
	name           TEXT    NOT NULL DEFAULT '',
	online         BOOLEAN NOT NULL DEFAULT FALSE,
	last_seen      INTEGER NOT NULL DEFAULT 0,
	birth_seq      INTEGER NOT NULL DEFAULT 0,
	version        TEXT    NOT NULL DEFAULT '',
	slot           TEXT    NOT NULL DEFAULT '',
	rollout        TEXT    NOT NULL DEFAULT '',
	rollout_detail TEXT    NOT NULL DEFAULT '',
	telemetry      BLOB,
	updated        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX kiosks_site ON kiosks (site, kiosk_id);

CREATE TABLE samples (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	kiosk_id TEXT    NOT NULL,
	metric   TEXT    NOT NULL,
	t        INTEGER NOT NULL,
	value    REAL    NOT NULL
);
CREATE INDEX samples_series ON samples (kiosk_id, metric, t);
CREATE INDEX samples_t ON samples (t);

CREATE TABLE events (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	kiosk_id TEXT    NOT NULL,
	t        INTEGER NOT NULL,
	code     TEXT    NOT NULL,
	severity TEXT    NOT NULL,
	event    BLOB
);
CREATE INDEX events_kiosk ON events (kiosk_id, t);
CREATE INDEX events_t ON events (t);

CREATE TABLE alarms (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kiosk_id   TEXT    NOT NULL,
	code       TEXT    NOT NULL,
	severity   TEXT    NOT NULL DEFAULT '',
	detail     TEXT    NOT NULL DEFAULT '',
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	count      INTEGER NOT NULL DEFAULT 1,
	acked_by   TEXT    NOT NULL DEFAULT '',
	acked_at   INTEGER NOT NULL DEFAULT 0,
	cleared    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alarms_open ON alarms (kiosk_id, code) WHERE cleared = 0;

CREATE TABLE command_seqs (
	kiosk_id TEXT    NOT NULL PRIMARY KEY,
	seq      INTEGER NOT NULL
);

CREATE TABLE commands (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	kiosk_id TEXT    NOT NULL,
	seq      INTEGER NOT NULL,
	kind     TEXT    NOT NULL,
	args     TEXT    NOT NULL DEFAULT 'null',
	by_login TEXT    NOT NULL DEFAULT '',
	sent     INTEGER NOT NULL DEFAULT 0,
	result   TEXT    NOT NULL DEFAULT '',
	detail   TEXT    NOT NULL DEFAULT '',
	answered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_kiosk ON commands (kiosk_id, seq);

CREATE TABLE rollouts (
	id             TEXT    NOT NULL PRIMARY KEY,
	target         TEXT    NOT NULL,
	version        TEXT    NOT NULL DEFAULT '',
	grp            TEXT    NOT NULL DEFAULT '',
	percent        INTEGER NOT NULL DEFAULT 0,
	canary         TEXT    NOT NULL DEFAULT 'null',
	state          TEXT    NOT NULL DEFAULT '',
	reason         TEXT    NOT NULL DEFAULT '',
	fail_threshold INTEGER NOT NULL DEFAULT 0,
	created        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE rollout_kiosks (
	rollout_id TEXT    NOT NULL,
	kiosk_id   TEXT    NOT NULL,
	state      TEXT    NOT NULL,
	detail     TEXT    NOT NULL DEFAULT '',
	at         INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (rollout_id, kiosk_id)
);

CREATE TABLE accounts (
	login   TEXT    NOT NULL PRIMARY KEY,
	hash    TEXT    NOT NULL,
	role    TEXT    NOT NULL,
	created INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
	token_hash TEXT    NOT NULL PRIMARY KEY,
	login      TEXT    NOT NULL,
	expires    INTEGER NOT NULL
);
CREATE INDEX sessions_login ON sessions (login);
