// Package store is the central's database: the ingest's ledger of filed
// packets, the fleet's state, alarms, the command audit log, rollouts and
// operator accounts. SQLite is the embedded default (one process); PostgreSQL
// is used where several central processes share one truth. Both implement
// Store and pass the same test suite (storetest).
//
// The store holds no personal data: no customer numbers, no page content, no
// names. Kiosks are named by id, site and a display name the operators give.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the store.
var (
	// ErrNotFound is returned when a looked-up record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a claim is held by another owner, or a
	// unique value exists already.
	ErrConflict = errors.New("store: conflict")
)

// Store is the whole database. Its methods are safe for concurrent use and
// for use by several processes sharing one database (PostgreSQL).
type Store interface {
	Ledger
	Fleet
	Alarms
	Audit
	Rollouts
	Accounts
	// Close releases the database.
	Close() error
}

// FiledPacket is the ledger's record of one packet the central has answered
// with a signed receipt (filed or rejected).
type FiledPacket struct {
	KioskID  string
	PacketID string
	// Status is wire.ReceiptFiled or wire.ReceiptRejected.
	Status string
	// Receipt is the signed receipt as sent, replayed on redelivery.
	Receipt []byte
	// ReceiptCode is the short code printed on the customer's receipt
	// (empty if the packet carried none).
	ReceiptCode string
	// Team is the inbox the document was filed into (e.g. "leistung").
	Team     string
	Pages    int
	Created  time.Time // the manifest's creation time
	Received time.Time
}

// Ledger records which packets were filed, so that a packet is filed
// exactly once even when several ingest processes receive its chunks and
// one of them dies mid-filing.
type Ledger interface {
	// Claim takes the right to file (kiosk, packet) for owner until lease
	// ends. It fails with ErrConflict while another owner's lease runs; an
	// expired lease may be taken over, and the owner may claim again to
	// extend its lease. A packet already in the ledger returns its record
	// and ErrConflict is not returned: check rec != nil. Claim is one atomic
	// step in the database, so of several processes claiming at once exactly
	// one wins. Leases are measured by the claimer's clock: keep the
	// processes' clocks in step (NTP) and leases far longer than the skew.
	Claim(ctx context.Context, kioskID, packetID, owner string, lease time.Duration) (rec *FiledPacket, err error)
	// Record stores the packet's final answer and releases the claim. It is
	// idempotent: recording the same packet again keeps the first record.
	Record(ctx context.Context, p FiledPacket) error
	// Lookup returns the record of (kiosk, packet), or ErrNotFound.
	Lookup(ctx context.Context, kioskID, packetID string) (FiledPacket, error)
	// LookupCode returns the record whose ReceiptCode is code, or ErrNotFound.
	// If several packets carry the code, the newest received is returned.
	LookupCode(ctx context.Context, code string) (FiledPacket, error)
	// Release gives up owner's claim on a packet that was not recorded (the
	// filing failed for a reason of our own), so another process may take it
	// at once instead of after the lease. Releasing a claim one does not
	// hold does nothing.
	Release(ctx context.Context, kioskID, packetID, owner string) error
	// Forget removes the records of packets received before t: past the
	// replay horizon a kiosk no longer offers them. It returns how many
	// were removed. Claims without a record are kept.
	Forget(ctx context.Context, before time.Time) (int64, error)
}

// KioskState is what the central knows of one kiosk.
type KioskState struct {
	KioskID  string
	Site     string
	Name     string
	Online   bool
	LastSeen time.Time
	// BirthSeq is the sequence number of the last birth message; a restarted
	// central rebuilds the truth from retained status and births.
	BirthSeq uint64
	Version  string
	Slot     string
	// Rollout is the kiosk's state in the current rollout (offered,
	// downloading, installed, committed, rolled-back) and Detail its reason
	// or progress.
	Rollout, RolloutDetail string
	// Telemetry is the last telemetry message's JSON (wire.Telemetry).
	Telemetry []byte
	Updated   time.Time
}

// Sample is one point of a kiosk's time series (backlog, deliveries,
// pages, temperature).
type Sample struct {
	KioskID string
	Metric  string
	Time    time.Time
	Value   float64
}

// Fleet holds the fleet's state and its history.
type Fleet interface {
	// PutKiosk creates or replaces a kiosk's state.
	PutKiosk(ctx context.Context, k KioskState) error
	// PutKiosks is PutKiosk for several kiosks in one transaction: a
	// consumer of many kiosks' messages batches what arrived meanwhile.
	PutKiosks(ctx context.Context, ks []KioskState) error
	// Kiosk returns one kiosk, or ErrNotFound.
	Kiosk(ctx context.Context, kioskID string) (KioskState, error)
	// Kiosks lists the fleet, ordered by site then kiosk id; site "" lists all.
	Kiosks(ctx context.Context, site string) ([]KioskState, error)
	// AddSamples appends points to kiosks' time series.
	AddSamples(ctx context.Context, s []Sample) error
	// Samples returns one kiosk's points of metric since t, oldest first.
	Samples(ctx context.Context, kioskID, metric string, since time.Time) ([]Sample, error)
	// AddEvent appends a kiosk event (its JSON, wire.Event) to its history.
	AddEvent(ctx context.Context, kioskID string, at time.Time, code, severity string, event []byte) error
	// Events returns a kiosk's newest events, newest first, at most limit.
	Events(ctx context.Context, kioskID string, limit int) ([]EventRecord, error)
	// Prune removes samples and events older than before (retention).
	Prune(ctx context.Context, before time.Time) error
}

// EventRecord is one stored kiosk event.
type EventRecord struct {
	KioskID  string
	Time     time.Time
	Code     string
	Severity string
	Event    []byte
}

// Alarm is an open or cleared condition of a kiosk, keyed by (kiosk, code).
type Alarm struct {
	ID        int64
	KioskID   string
	Code      string // e.g. disk.full, packet.stuck
	Severity  string
	Detail    string // no personal data
	FirstSeen time.Time
	LastSeen  time.Time
	Count     int
	AckedBy   string
	AckedAt   time.Time
	Cleared   time.Time
}

// Alarms keeps alarms with acknowledgement and clearing.
type Alarms interface {
	// RaiseAlarm opens an alarm for (kiosk, code) or, when one is open,
	// bumps its LastSeen and Count.
	RaiseAlarm(ctx context.Context, a Alarm) (Alarm, error)
	// AckAlarm records who acknowledged alarm id, and when.
	AckAlarm(ctx context.Context, id int64, by string, at time.Time) error
	// ClearAlarm closes alarm id (clearing it again does nothing); a
	// RaiseAlarm of the same (kiosk, code) afterwards opens a new alarm.
	// AckAlarm and ClearAlarm return ErrNotFound for an unknown id.
	ClearAlarm(ctx context.Context, id int64, at time.Time) error
	// Alarms lists alarms, open ones first; open only when openOnly.
	Alarms(ctx context.Context, openOnly bool) ([]Alarm, error)
}

// CommandRecord is one command in the audit log.
type CommandRecord struct {
	ID      int64
	KioskID string
	Seq     uint64
	Kind    string
	Args    map[string]string
	By      string // operator login
	Sent    time.Time
	// Result is the kiosk's signed result's status ("" until answered) and
	// Detail its reason.
	Result, Detail string
	Answered       time.Time
}

// Audit keeps the command audit log and the per-kiosk command sequence.
type Audit interface {
	// NextSeq returns the next command sequence number for a kiosk,
	// strictly growing across processes.
	NextSeq(ctx context.Context, kioskID string) (uint64, error)
	// AddCommand appends a sent command to the log.
	AddCommand(ctx context.Context, c CommandRecord) (int64, error)
	// SetResult records the kiosk's answer to command (kiosk, seq), or
	// returns ErrNotFound when no such command was logged.
	SetResult(ctx context.Context, kioskID string, seq uint64, result, detail string, at time.Time) error
	// Commands lists the log, newest first, at most limit; kioskID "" for all.
	Commands(ctx context.Context, kioskID string, limit int) ([]CommandRecord, error)
}

// Rollout is an update offered to part of the fleet.
type Rollout struct {
	ID      string
	Target  string // the TUF target's name
	Version string
	Group   string // a site, or "" for the fleet
	Percent int
	Canary  []string // kiosk ids offered first
	// State is running, halted or done; Reason says why it halted.
	State, Reason string
	// FailThreshold halts the rollout when this many kiosks roll back.
	FailThreshold int
	Created       time.Time
}

// Rollouts keeps rollouts and each kiosk's state in them.
type Rollouts interface {
	// PutRollout creates or replaces rollout r.ID.
	PutRollout(ctx context.Context, r Rollout) error
	// Rollout returns one rollout, or ErrNotFound.
	Rollout(ctx context.Context, id string) (Rollout, error)
	// Rollouts lists rollouts, newest created first.
	Rollouts(ctx context.Context) ([]Rollout, error)
	// SetRolloutKiosk records a kiosk's state (offered, downloading,
	// installed, committed, rolled-back) in rollout id with a detail.
	SetRolloutKiosk(ctx context.Context, id, kioskID, state, detail string, at time.Time) error
	// RolloutKiosks returns kiosk id → state of rollout id.
	RolloutKiosks(ctx context.Context, id string) (map[string]string, error)
}

// Account is an operator of the dashboard.
type Account struct {
	Login string
	// Hash is the password's slow hash (argon2id, PHC string).
	Hash    string
	Role    string // viewer, operator, admin
	Created time.Time
}

// Accounts keeps operator accounts and their sessions.
type Accounts interface {
	// PutAccount creates or replaces account a.Login.
	PutAccount(ctx context.Context, a Account) error
	// Account returns one account, or ErrNotFound.
	Account(ctx context.Context, login string) (Account, error)
	// Accounts lists the accounts ordered by login.
	Accounts(ctx context.Context) ([]Account, error)
	// DeleteAccount removes an account and its sessions, or returns
	// ErrNotFound.
	DeleteAccount(ctx context.Context, login string) error
	// PutSession stores a session token's hash for login until expires.
	PutSession(ctx context.Context, tokenHash, login string, expires time.Time) error
	// Session returns the login of a live session, or ErrNotFound.
	Session(ctx context.Context, tokenHash string, now time.Time) (string, error)
	// DeleteSession ends a session (logout); an unknown token does nothing.
	DeleteSession(ctx context.Context, tokenHash string) error
}
