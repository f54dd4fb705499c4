// Package sqldb implements store.Store once over database/sql, for the SQL
// both SQLite (3.35 and later) and PostgreSQL speak: upserts with
// ON CONFLICT … DO UPDATE … WHERE, RETURNING, partial unique indexes and
// transactional DDL. The dialects differ only in their placeholders, their
// schema files and how the migration transaction is serialised.
//
// Times are stored as Unix nanoseconds (0 for the zero time), so both
// databases compare and order them the same way.
package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/store"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Name is "sqlite" or "postgres", for errors.
	Name string
	// Numbered is true when placeholders are $1, $2, … instead of ?.
	Numbered bool
	// LockMigrations is run first in the migration transaction so that
	// processes opening one database at once migrate it one after the other
	// ("" when the transaction itself is exclusive, as SQLite's BEGIN
	// IMMEDIATE is).
	LockMigrations string
}

// DB is a store.Store over a migrated database.
//
// It writes through two pools, which may be one: sure for what a promise
// rests on (the ledger, the command audit log, rollouts, accounts), which
// waits for the disk at every commit, and db for the fleet's state,
// samples, events and alarms, which the next telemetry restores and which
// may commit without waiting (SQLite: synchronous NORMAL in WAL mode, where
// a power cut may lose the last moments, never corrupt, and every sure
// commit makes all before it durable too). Reads go through db.
type DB struct {
	db   *sql.DB
	sure *sql.DB
	d    Dialect
	now  func() time.Time
}

var _ store.Store = (*DB)(nil)

// New returns a DB over db and sure (see DB; sure may be db, or nil for
// db), which must be migrated already (Migrate). now is the clock leases
// are measured with; nil uses time.Now.
func New(db, sure *sql.DB, d Dialect, now func() time.Time) *DB {
	if now == nil {
		now = time.Now
	}
	if sure == nil {
		sure = db
	}
	return &DB{db: db, sure: sure, d: d, now: now}
}

// SQL returns the underlying database, for tests and metrics.
func (s *DB) SQL() *sql.DB { return s.db }

// Close closes the database.
func (s *DB) Close() error {
	err := s.db.Close()
	if s.sure != s.db {
		if e := s.sure.Close(); err == nil {
			err = e
		}
	}
	return err
}

// rebind turns ? placeholders into the dialect's. Queries of this package
// hold no ? inside string literals.
func (d Dialect) rebind(q string) string {
	if !d.Numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *DB) exec(ctx context.Context, e execer, q string, args ...any) (sql.Result, error) {
	r, err := e.ExecContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	return r, nil
}

func (s *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	r, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	return r, nil
}

func (s *DB) row(ctx context.Context, q string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.d.rebind(q), args...)
}

func (s *DB) scanErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return fmt.Errorf("store %s: %w", s.d.Name, err)
}

// ns stores a time; the zero time is 0.
func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// tm reads a stored time.
func tm(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ---- Ledger ----

// Claim implements store.Ledger.
func (s *DB) Claim(ctx context.Context, kioskID, packetID, owner string, lease time.Duration) (*store.FiledPacket, error) {
	if owner == "" {
		return nil, fmt.Errorf("store %s: claim without owner", s.d.Name)
	}
	now := s.now()
	// One statement: it takes a packet nobody holds, one whose lease ran
	// out, or one this owner holds already, and never one with a record.
	rows, err := s.sure.QueryContext(ctx, s.d.rebind(`INSERT INTO packets (kiosk_id, packet_id, owner, lease_until)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (kiosk_id, packet_id) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
		WHERE packets.status = '' AND (packets.lease_until < ? OR packets.owner = excluded.owner)
		RETURNING owner`), kioskID, packetID, owner, ns(now.Add(lease)), ns(now))
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	claimed := rows.Next()
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	if claimed {
		return nil, nil
	}
	p, err := s.lookup(ctx, kioskID, packetID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Someone holds it and has not recorded it.
		return nil, store.ErrConflict
	case err != nil:
		return nil, err
	}
	return &p, nil
}

// Release implements store.Ledger.
func (s *DB) Release(ctx context.Context, kioskID, packetID, owner string) error {
	_, err := s.exec(ctx, s.sure, `UPDATE packets SET owner = '', lease_until = 0
		WHERE kiosk_id = ? AND packet_id = ? AND owner = ? AND status = ''`, kioskID, packetID, owner)
	return err
}

// Record implements store.Ledger.
func (s *DB) Record(ctx context.Context, p store.FiledPacket) error {
	if p.Status == "" || p.KioskID == "" || p.PacketID == "" {
		return fmt.Errorf("store %s: record without status or ids", s.d.Name)
	}
	_, err := s.exec(ctx, s.sure, `INSERT INTO packets (kiosk_id, packet_id, owner, lease_until, status, receipt,
			receipt_code, team, pages, created, received)
		VALUES (?, ?, '', 0, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kiosk_id, packet_id) DO UPDATE SET owner = '', lease_until = 0, status = excluded.status,
			receipt = excluded.receipt, receipt_code = excluded.receipt_code, team = excluded.team,
			pages = excluded.pages, created = excluded.created, received = excluded.received
		WHERE packets.status = ''`,
		p.KioskID, p.PacketID, p.Status, p.Receipt, p.ReceiptCode, p.Team, p.Pages, ns(p.Created), ns(p.Received))
	return err
}

const packetCols = `kiosk_id, packet_id, status, receipt, receipt_code, team, pages, created, received`

func scanPacket(sc interface{ Scan(...any) error }) (store.FiledPacket, error) {
	var p store.FiledPacket
	var created, received int64
	err := sc.Scan(&p.KioskID, &p.PacketID, &p.Status, &p.Receipt, &p.ReceiptCode, &p.Team, &p.Pages, &created, &received)
	p.Created, p.Received = tm(created), tm(received)
	return p, err
}

func (s *DB) lookup(ctx context.Context, kioskID, packetID string) (store.FiledPacket, error) {
	p, err := scanPacket(s.row(ctx, `SELECT `+packetCols+` FROM packets
		WHERE kiosk_id = ? AND packet_id = ? AND status <> ''`, kioskID, packetID))
	if err != nil {
		return store.FiledPacket{}, s.scanErr(err)
	}
	return p, nil
}

// Lookup implements store.Ledger.
func (s *DB) Lookup(ctx context.Context, kioskID, packetID string) (store.FiledPacket, error) {
	return s.lookup(ctx, kioskID, packetID)
}

// LookupCode implements store.Ledger.
func (s *DB) LookupCode(ctx context.Context, code string) (store.FiledPacket, error) {
	if code == "" {
		return store.FiledPacket{}, store.ErrNotFound
	}
	p, err := scanPacket(s.row(ctx, `SELECT `+packetCols+` FROM packets
		WHERE receipt_code = ? AND status <> '' ORDER BY received DESC LIMIT 1`, code))
	if err != nil {
		return store.FiledPacket{}, s.scanErr(err)
	}
	return p, nil
}

// Forget implements store.Ledger.
func (s *DB) Forget(ctx context.Context, before time.Time) (int64, error) {
	r, err := s.exec(ctx, s.sure, `DELETE FROM packets WHERE status <> '' AND received < ?`, ns(before))
	if err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// ---- Fleet ----

// PutKiosk implements store.Fleet.
func (s *DB) PutKiosk(ctx context.Context, k store.KioskState) error {
	return s.putKiosk(ctx, s.db, k)
}

// PutKiosks implements store.Fleet.
func (s *DB) PutKiosks(ctx context.Context, ks []store.KioskState) error {
	return s.tx(ctx, s.db, func(tx *sql.Tx) error {
		for _, k := range ks {
			if err := s.putKiosk(ctx, tx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *DB) putKiosk(ctx context.Context, e execer, k store.KioskState) error {
	if k.KioskID == "" {
		return fmt.Errorf("store %s: kiosk without id", s.d.Name)
	}
	_, err := s.exec(ctx, e, `INSERT INTO kiosks (kiosk_id, site, name, online, last_seen, birth_seq, version, slot,
			rollout, rollout_detail, telemetry, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kiosk_id) DO UPDATE SET site = excluded.site, name = excluded.name, online = excluded.online,
			last_seen = excluded.last_seen, birth_seq = excluded.birth_seq, version = excluded.version,
			slot = excluded.slot, rollout = excluded.rollout, rollout_detail = excluded.rollout_detail,
			telemetry = excluded.telemetry, updated = excluded.updated`,
		k.KioskID, k.Site, k.Name, k.Online, ns(k.LastSeen), int64(k.BirthSeq), k.Version, k.Slot,
		k.Rollout, k.RolloutDetail, k.Telemetry, ns(k.Updated))
	return err
}

const kioskCols = `kiosk_id, site, name, online, last_seen, birth_seq, version, slot, rollout, rollout_detail, telemetry, updated`

func scanKiosk(sc interface{ Scan(...any) error }) (store.KioskState, error) {
	var k store.KioskState
	var last, upd, seq int64
	err := sc.Scan(&k.KioskID, &k.Site, &k.Name, &k.Online, &last, &seq, &k.Version, &k.Slot,
		&k.Rollout, &k.RolloutDetail, &k.Telemetry, &upd)
	k.LastSeen, k.Updated, k.BirthSeq = tm(last), tm(upd), uint64(seq)
	return k, err
}

// Kiosk implements store.Fleet.
func (s *DB) Kiosk(ctx context.Context, kioskID string) (store.KioskState, error) {
	k, err := scanKiosk(s.row(ctx, `SELECT `+kioskCols+` FROM kiosks WHERE kiosk_id = ?`, kioskID))
	if err != nil {
		return store.KioskState{}, s.scanErr(err)
	}
	return k, nil
}

// Kiosks implements store.Fleet.
func (s *DB) Kiosks(ctx context.Context, site string) ([]store.KioskState, error) {
	q, args := `SELECT `+kioskCols+` FROM kiosks ORDER BY site, kiosk_id`, []any{}
	if site != "" {
		q, args = `SELECT `+kioskCols+` FROM kiosks WHERE site = ? ORDER BY site, kiosk_id`, []any{site}
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(s, rows, scanKiosk)
}

// collect scans every row with scan and closes rows.
func collect[T any](s *DB, rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.scanErr(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.scanErr(err)
	}
	return out, nil
}

// AddSamples implements store.Fleet.
func (s *DB) AddSamples(ctx context.Context, samples []store.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	return s.tx(ctx, s.db, func(tx *sql.Tx) error {
		for _, p := range samples {
			if _, err := s.exec(ctx, tx, `INSERT INTO samples (kiosk_id, metric, t, value) VALUES (?, ?, ?, ?)`,
				p.KioskID, p.Metric, ns(p.Time), p.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// Samples implements store.Fleet.
func (s *DB) Samples(ctx context.Context, kioskID, metric string, since time.Time) ([]store.Sample, error) {
	rows, err := s.query(ctx, `SELECT kiosk_id, metric, t, value FROM samples
		WHERE kiosk_id = ? AND metric = ? AND t >= ? ORDER BY t, id`, kioskID, metric, ns(since))
	if err != nil {
		return nil, err
	}
	return collect(s, rows, func(sc interface{ Scan(...any) error }) (store.Sample, error) {
		var p store.Sample
		var t int64
		err := sc.Scan(&p.KioskID, &p.Metric, &t, &p.Value)
		p.Time = tm(t)
		return p, err
	})
}

// AddEvent implements store.Fleet.
func (s *DB) AddEvent(ctx context.Context, kioskID string, at time.Time, code, severity string, event []byte) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO events (kiosk_id, t, code, severity, event) VALUES (?, ?, ?, ?, ?)`,
		kioskID, ns(at), code, severity, event)
	return err
}

// Events implements store.Fleet.
func (s *DB) Events(ctx context.Context, kioskID string, limit int) ([]store.EventRecord, error) {
	if limit <= 0 {
		return []store.EventRecord{}, nil
	}
	rows, err := s.query(ctx, `SELECT kiosk_id, t, code, severity, event FROM events
		WHERE kiosk_id = ? ORDER BY t DESC, id DESC LIMIT ?`, kioskID, limit)
	if err != nil {
		return nil, err
	}
	return collect(s, rows, func(sc interface{ Scan(...any) error }) (store.EventRecord, error) {
		var e store.EventRecord
		var t int64
		err := sc.Scan(&e.KioskID, &t, &e.Code, &e.Severity, &e.Event)
		e.Time = tm(t)
		return e, err
	})
}

// Prune implements store.Fleet.
func (s *DB) Prune(ctx context.Context, before time.Time) error {
	return s.tx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM samples WHERE t < ?`, ns(before)); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `DELETE FROM events WHERE t < ?`, ns(before))
		return err
	})
}

// ---- Alarms ----

const alarmCols = `id, kiosk_id, code, severity, detail, first_seen, last_seen, count, acked_by, acked_at, cleared`

func scanAlarm(sc interface{ Scan(...any) error }) (store.Alarm, error) {
	var a store.Alarm
	var first, last, acked, cleared int64
	err := sc.Scan(&a.ID, &a.KioskID, &a.Code, &a.Severity, &a.Detail, &first, &last, &a.Count, &a.AckedBy, &acked, &cleared)
	a.FirstSeen, a.LastSeen, a.AckedAt, a.Cleared = tm(first), tm(last), tm(acked), tm(cleared)
	return a, err
}

// RaiseAlarm implements store.Alarms.
func (s *DB) RaiseAlarm(ctx context.Context, a store.Alarm) (store.Alarm, error) {
	if a.KioskID == "" || a.Code == "" {
		return store.Alarm{}, fmt.Errorf("store %s: alarm without kiosk or code", s.d.Name)
	}
	first, last := a.FirstSeen, a.LastSeen
	if last.IsZero() {
		last = s.now()
	}
	if first.IsZero() {
		first = last
	}
	out, err := scanAlarm(s.row(ctx, `INSERT INTO alarms (kiosk_id, code, severity, detail, first_seen, last_seen, count,
			acked_by, acked_at, cleared)
		VALUES (?, ?, ?, ?, ?, ?, 1, '', 0, 0)
		ON CONFLICT (kiosk_id, code) WHERE cleared = 0 DO UPDATE SET severity = excluded.severity,
			detail = excluded.detail, last_seen = excluded.last_seen, count = alarms.count + 1
		RETURNING `+alarmCols, a.KioskID, a.Code, a.Severity, a.Detail, ns(first), ns(last)))
	if err != nil {
		return store.Alarm{}, s.scanErr(err)
	}
	return out, nil
}

func (s *DB) mustAffect(r sql.Result) error {
	if n, err := r.RowsAffected(); err == nil && n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AckAlarm implements store.Alarms.
func (s *DB) AckAlarm(ctx context.Context, id int64, by string, at time.Time) error {
	r, err := s.exec(ctx, s.db, `UPDATE alarms SET acked_by = ?, acked_at = ? WHERE id = ?`, by, ns(at), id)
	if err != nil {
		return err
	}
	return s.mustAffect(r)
}

// ClearAlarm implements store.Alarms.
func (s *DB) ClearAlarm(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	r, err := s.exec(ctx, s.db, `UPDATE alarms SET cleared = ? WHERE id = ? AND cleared = 0`, ns(at), id)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		// Cleared before (a no-op) or not there at all.
		var one int
		if err := s.row(ctx, `SELECT 1 FROM alarms WHERE id = ?`, id).Scan(&one); err != nil {
			return s.scanErr(err)
		}
	}
	return nil
}

// Alarms implements store.Alarms.
func (s *DB) Alarms(ctx context.Context, openOnly bool) ([]store.Alarm, error) {
	q := `SELECT ` + alarmCols + ` FROM alarms`
	if openOnly {
		q += ` WHERE cleared = 0`
	}
	q += ` ORDER BY CASE WHEN cleared = 0 THEN 0 ELSE 1 END, last_seen DESC, id DESC`
	rows, err := s.query(ctx, q)
	if err != nil {
		return nil, err
	}
	return collect(s, rows, scanAlarm)
}

// ---- Audit ----

// NextSeq implements store.Audit.
func (s *DB) NextSeq(ctx context.Context, kioskID string) (uint64, error) {
	var n int64
	err := s.sure.QueryRowContext(ctx, s.d.rebind(`INSERT INTO command_seqs (kiosk_id, seq) VALUES (?, 1)
		ON CONFLICT (kiosk_id) DO UPDATE SET seq = command_seqs.seq + 1
		RETURNING seq`), kioskID).Scan(&n)
	if err != nil {
		return 0, s.scanErr(err)
	}
	return uint64(n), nil
}

// AddCommand implements store.Audit.
func (s *DB) AddCommand(ctx context.Context, c store.CommandRecord) (int64, error) {
	args, err := json.Marshal(c.Args)
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	var id int64
	err = s.sure.QueryRowContext(ctx, s.d.rebind(`INSERT INTO commands (kiosk_id, seq, kind, args, by_login, sent, result, detail, answered)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		c.KioskID, int64(c.Seq), c.Kind, string(args), c.By, ns(c.Sent), c.Result, c.Detail, ns(c.Answered)).Scan(&id)
	if err != nil {
		return 0, s.scanErr(err)
	}
	return id, nil
}

// SetResult implements store.Audit.
func (s *DB) SetResult(ctx context.Context, kioskID string, seq uint64, result, detail string, at time.Time) error {
	r, err := s.exec(ctx, s.sure, `UPDATE commands SET result = ?, detail = ?, answered = ? WHERE kiosk_id = ? AND seq = ?`,
		result, detail, ns(at), kioskID, int64(seq))
	if err != nil {
		return err
	}
	return s.mustAffect(r)
}

// Commands implements store.Audit.
func (s *DB) Commands(ctx context.Context, kioskID string, limit int) ([]store.CommandRecord, error) {
	if limit <= 0 {
		return []store.CommandRecord{}, nil
	}
	const cols = `SELECT id, kiosk_id, seq, kind, args, by_login, sent, result, detail, answered FROM commands`
	q, args := cols+` ORDER BY id DESC LIMIT ?`, []any{limit}
	if kioskID != "" {
		q, args = cols+` WHERE kiosk_id = ? ORDER BY id DESC LIMIT ?`, []any{kioskID, limit}
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(s, rows, func(sc interface{ Scan(...any) error }) (store.CommandRecord, error) {
		var c store.CommandRecord
		var seq, sent, answered int64
		var args string
		if err := sc.Scan(&c.ID, &c.KioskID, &seq, &c.Kind, &args, &c.By, &sent, &c.Result, &c.Detail, &answered); err != nil {
			return c, err
		}
		c.Seq, c.Sent, c.Answered = uint64(seq), tm(sent), tm(answered)
		if err := json.Unmarshal([]byte(args), &c.Args); err != nil {
			return c, err
		}
		return c, nil
	})
}

// ---- Rollouts ----

// PutRollout implements store.Rollouts.
func (s *DB) PutRollout(ctx context.Context, r store.Rollout) error {
	if r.ID == "" {
		return fmt.Errorf("store %s: rollout without id", s.d.Name)
	}
	canary, err := json.Marshal(r.Canary)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	_, err = s.exec(ctx, s.sure, `INSERT INTO rollouts (id, target, version, grp, percent, canary, state, reason,
			fail_threshold, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET target = excluded.target, version = excluded.version, grp = excluded.grp,
			percent = excluded.percent, canary = excluded.canary, state = excluded.state, reason = excluded.reason,
			fail_threshold = excluded.fail_threshold, created = excluded.created`,
		r.ID, r.Target, r.Version, r.Group, r.Percent, string(canary), r.State, r.Reason, r.FailThreshold, ns(r.Created))
	return err
}

const rolloutCols = `SELECT id, target, version, grp, percent, canary, state, reason, fail_threshold, created FROM rollouts`

func scanRollout(sc interface{ Scan(...any) error }) (store.Rollout, error) {
	var r store.Rollout
	var canary string
	var created int64
	if err := sc.Scan(&r.ID, &r.Target, &r.Version, &r.Group, &r.Percent, &canary, &r.State, &r.Reason,
		&r.FailThreshold, &created); err != nil {
		return r, err
	}
	r.Created = tm(created)
	if err := json.Unmarshal([]byte(canary), &r.Canary); err != nil {
		return r, err
	}
	return r, nil
}

// Rollout implements store.Rollouts.
func (s *DB) Rollout(ctx context.Context, id string) (store.Rollout, error) {
	r, err := scanRollout(s.row(ctx, rolloutCols+` WHERE id = ?`, id))
	if err != nil {
		return store.Rollout{}, s.scanErr(err)
	}
	return r, nil
}

// Rollouts implements store.Rollouts.
func (s *DB) Rollouts(ctx context.Context) ([]store.Rollout, error) {
	rows, err := s.query(ctx, rolloutCols+` ORDER BY created DESC, id`)
	if err != nil {
		return nil, err
	}
	return collect(s, rows, scanRollout)
}

// SetRolloutKiosk implements store.Rollouts.
func (s *DB) SetRolloutKiosk(ctx context.Context, id, kioskID, state, detail string, at time.Time) error {
	_, err := s.exec(ctx, s.sure, `INSERT INTO rollout_kiosks (rollout_id, kiosk_id, state, detail, at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (rollout_id, kiosk_id) DO UPDATE SET state = excluded.state, detail = excluded.detail, at = excluded.at`,
		id, kioskID, state, detail, ns(at))
	return err
}

// RolloutKiosks implements store.Rollouts.
func (s *DB) RolloutKiosks(ctx context.Context, id string) (map[string]string, error) {
	rows, err := s.query(ctx, `SELECT kiosk_id, state FROM rollout_kiosks WHERE rollout_id = ?`, id)
	if err != nil {
		return nil, err
	}
	pairs, err := collect(s, rows, func(sc interface{ Scan(...any) error }) ([2]string, error) {
		var p [2]string
		err := sc.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p[0]] = p[1]
	}
	return out, nil
}

// ---- Accounts ----

// PutAccount implements store.Accounts.
func (s *DB) PutAccount(ctx context.Context, a store.Account) error {
	if a.Login == "" {
		return fmt.Errorf("store %s: account without login", s.d.Name)
	}
	_, err := s.exec(ctx, s.sure, `INSERT INTO accounts (login, hash, role, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (login) DO UPDATE SET hash = excluded.hash, role = excluded.role, created = excluded.created`,
		a.Login, a.Hash, a.Role, ns(a.Created))
	return err
}

func scanAccount(sc interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created int64
	err := sc.Scan(&a.Login, &a.Hash, &a.Role, &created)
	a.Created = tm(created)
	return a, err
}

// Account implements store.Accounts.
func (s *DB) Account(ctx context.Context, login string) (store.Account, error) {
	a, err := scanAccount(s.row(ctx, `SELECT login, hash, role, created FROM accounts WHERE login = ?`, login))
	if err != nil {
		return store.Account{}, s.scanErr(err)
	}
	return a, nil
}

// Accounts implements store.Accounts.
func (s *DB) Accounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.query(ctx, `SELECT login, hash, role, created FROM accounts ORDER BY login`)
	if err != nil {
		return nil, err
	}
	return collect(s, rows, scanAccount)
}

// DeleteAccount implements store.Accounts.
func (s *DB) DeleteAccount(ctx context.Context, login string) error {
	return s.tx(ctx, s.sure, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM sessions WHERE login = ?`, login); err != nil {
			return err
		}
		r, err := s.exec(ctx, tx, `DELETE FROM accounts WHERE login = ?`, login)
		if err != nil {
			return err
		}
		return s.mustAffect(r)
	})
}

// PutSession implements store.Accounts.
func (s *DB) PutSession(ctx context.Context, tokenHash, login string, expires time.Time) error {
	_, err := s.exec(ctx, s.sure, `INSERT INTO sessions (token_hash, login, expires) VALUES (?, ?, ?)
		ON CONFLICT (token_hash) DO UPDATE SET login = excluded.login, expires = excluded.expires`,
		tokenHash, login, ns(expires))
	return err
}

// Session implements store.Accounts.
func (s *DB) Session(ctx context.Context, tokenHash string, now time.Time) (string, error) {
	var login string
	err := s.row(ctx, `SELECT login FROM sessions WHERE token_hash = ? AND expires > ?`, tokenHash, ns(now)).Scan(&login)
	if err != nil {
		return "", s.scanErr(err)
	}
	return login, nil
}

// DeleteSession implements store.Accounts.
func (s *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := s.exec(ctx, s.sure, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
	return err
}

// tx runs f in a transaction on pool, committed when f returns nil.
func (s *DB) tx(ctx context.Context, pool *sql.DB, f func(*sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %s: %w", s.d.Name, err)
	}
	return nil
}
