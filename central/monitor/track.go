package monitor

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// Errors of Handle. A message that fails is dropped (and counted); it
// changes nothing.
var (
	ErrTopic    = errors.New("monitor: not a kiosk topic")
	ErrUnknown  = errors.New("monitor: kiosk not enrolled")
	ErrMessage  = errors.New("monitor: bad message")
	ErrStaleMsg = errors.New("monitor: stale message")
)

// Alarm codes the monitor raises itself.
const (
	AlarmOffline = "kiosk.offline"
	// SeverityWarning is below wire.SeverityAlarm: the monitor's own
	// alarms about kiosks it cannot see.
	SeverityWarning = "warning"
)

// Sample metrics stored per kiosk.
const (
	MetricBacklog     = "backlog"     // documents waiting
	MetricSent        = "sent"        // delivered documents, cumulative
	MetricPages       = "pages"       // scanned pages, cumulative
	MetricTemperature = "temperature" // °C
	MetricDiskFree    = "disk_free"   // bytes
)

// Subscriptions of the monitor: what every kiosk publishes besides
// packets.
func Subscriptions() []string {
	var out []string
	for _, leaf := range []string{"status", "birth", "telemetry", "event", "cmd-result", "update"} {
		out = append(out, wire.Root+"/k/+/"+leaf)
	}
	return out
}

// parseTopic returns the kiosk id and the leaf of a kiosk topic.
func parseTopic(topic string) (kioskID, leaf string, err error) {
	rest, ok := strings.CutPrefix(topic, wire.Root+"/k/")
	if !ok {
		return "", "", ErrTopic
	}
	id, leaf, ok := strings.Cut(rest, "/")
	if !ok || !wire.ValidID(id) || strings.Contains(leaf, "/") {
		return "", "", ErrTopic
	}
	return id, leaf, nil
}

// Handle takes one message a kiosk published. Messages of kiosks that are
// not enrolled are dropped; signed ones (births, command results) are
// verified with the kiosk's key.
func (m *Monitor) Handle(ctx context.Context, topic string, payload []byte) error {
	err := m.handle(ctx, topic, payload)
	m.met.message(err)
	if err != nil && !errors.Is(err, ErrStaleMsg) {
		m.cfg.Log.Warn("monitor: message dropped", "topic", topic, "err", err)
	}
	return err
}

func (m *Monitor) handle(ctx context.Context, topic string, payload []byte) error {
	id, leaf, err := parseTopic(topic)
	if err != nil {
		return err
	}
	if len(payload) > wire.MaxMessage {
		return fmt.Errorf("%w: %d bytes", ErrMessage, len(payload))
	}
	pub, err := m.cfg.Kiosks.Lookup(id)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	switch leaf {
	case "status":
		var s wire.Status
		if err := unmarshal(payload, &s, &s.KioskID, id); err != nil {
			return err
		}
		return m.status(ctx, id, s)
	case "birth":
		var b wire.Birth
		if err := wire.Verify(pub, wire.TypeBirth, payload, &b); err != nil {
			return fmt.Errorf("%w: birth: %v", ErrMessage, err)
		}
		if b.KioskID != id {
			return fmt.Errorf("%w: birth for another kiosk", ErrMessage)
		}
		return m.birth(ctx, b)
	case "telemetry":
		var t wire.Telemetry
		if err := unmarshal(payload, &t, &t.KioskID, id); err != nil {
			return err
		}
		return m.telemetry(ctx, id, t, payload)
	case "event":
		var e wire.Event
		if err := unmarshal(payload, &e, &e.KioskID, id); err != nil {
			return err
		}
		return m.event(ctx, id, e, payload)
	case "cmd-result":
		return m.result(ctx, id, pub, payload)
	case "update":
		var r wire.UpdateReport
		if err := wire.Verify(pub, wire.TypeUpdateReport, payload, &r); err != nil {
			return fmt.Errorf("%w: update report: %v", ErrMessage, err)
		}
		if r.KioskID != id {
			return fmt.Errorf("%w: report for another kiosk", ErrMessage)
		}
		return m.rollout(ctx, r)
	}
	return ErrTopic
}

// unmarshal parses a kiosk's unsigned message and checks it names the
// kiosk of its topic.
func unmarshal(b []byte, v any, kioskID *string, id string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMessage, err)
	}
	if *kioskID != id {
		return fmt.Errorf("%w: message for another kiosk", ErrMessage)
	}
	return nil
}

// update reads, changes and writes one kiosk's state under the lock.
func (m *Monitor) update(ctx context.Context, id string, f func(k *store.KioskState) error) (before, after store.KioskState, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, err := m.cfg.Store.Kiosk(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		k, err = store.KioskState{KioskID: id, Name: id}, nil
	}
	if err != nil {
		return k, k, err
	}
	before = k
	if err := f(&k); err != nil {
		return before, k, err
	}
	k.Updated = m.now()
	if err := m.cfg.Store.PutKiosk(ctx, k); err != nil {
		return before, k, err
	}
	m.hub.notify("fleet")
	return before, k, nil
}

// seen marks a kiosk online because it just said something, and opens or
// clears the offline alarm on a change.
func (m *Monitor) seen(k *store.KioskState, online bool, at time.Time) {
	k.Online = online
	if at.After(k.LastSeen) || !online {
		k.LastSeen = at
	}
}

// presence raises or clears the offline alarm after a change of Online.
func (m *Monitor) presence(ctx context.Context, before, after store.KioskState) error {
	switch {
	case !after.Online && (before.Online || before.LastSeen.IsZero()):
		// Gone, or first known as gone (a restarted central reads the
		// retained last will).
		_, err := m.cfg.Store.RaiseAlarm(ctx, store.Alarm{KioskID: after.KioskID, Code: AlarmOffline,
			Severity: SeverityWarning, Detail: "no connection to the broker", FirstSeen: m.now(), LastSeen: m.now(), Count: 1})
		m.hub.notify("alarms")
		return err
	case after.Online && !before.Online:
		return m.clearAlarms(ctx, after.KioskID, func(code string) bool { return code == AlarmOffline })
	}
	return nil
}

func (m *Monitor) clearAlarms(ctx context.Context, kioskID string, match func(code string) bool) error {
	open, err := m.cfg.Store.Alarms(ctx, true)
	if err != nil {
		return err
	}
	for _, a := range open {
		if a.KioskID == kioskID && a.Cleared.IsZero() && match(a.Code) {
			if err := m.cfg.Store.ClearAlarm(ctx, a.ID, m.now()); err != nil {
				return err
			}
			m.hub.notify("alarms")
		}
	}
	return nil
}

func (m *Monitor) status(ctx context.Context, id string, s wire.Status) error {
	before, after, err := m.update(ctx, id, func(k *store.KioskState) error {
		m.seen(k, s.Online, m.now())
		if s.Version != "" {
			k.Version = s.Version
		}
		return nil
	})
	if err != nil {
		return err
	}
	return m.presence(ctx, before, after)
}

// birth takes a kiosk's birth: a newer sequence than the last one known
// means a new connection; an older or equal one is a stale copy (a
// retained birth the central saw before its restart, or a replay) and only
// fills in what is missing.
func (m *Monitor) birth(ctx context.Context, b wire.Birth) error {
	stale := false
	before, after, err := m.update(ctx, b.KioskID, func(k *store.KioskState) error {
		if b.Seq <= k.BirthSeq {
			stale = true
			return ErrStaleMsg
		}
		k.BirthSeq = b.Seq
		m.seen(k, true, m.now())
		k.Version, k.Slot = b.Version, b.Slot
		if b.Site != "" {
			k.Site = b.Site
		}
		return nil
	})
	if stale {
		return ErrStaleMsg
	}
	if err != nil {
		return err
	}
	return m.presence(ctx, before, after)
}

func (m *Monitor) telemetry(ctx context.Context, id string, t wire.Telemetry, raw []byte) error {
	now := m.now()
	before, after, err := m.update(ctx, id, func(k *store.KioskState) error {
		m.seen(k, true, now)
		k.Telemetry = raw
		return nil
	})
	if err != nil {
		return err
	}
	samples := []store.Sample{
		{KioskID: id, Metric: MetricBacklog, Time: now, Value: float64(t.SpoolEntries)},
		{KioskID: id, Metric: MetricSent, Time: now, Value: float64(t.Sent)},
		{KioskID: id, Metric: MetricPages, Time: now, Value: float64(t.Pages)},
		{KioskID: id, Metric: MetricDiskFree, Time: now, Value: float64(t.DiskFree)},
	}
	if t.TempMilliC != 0 {
		samples = append(samples, store.Sample{KioskID: id, Metric: MetricTemperature, Time: now, Value: float64(t.TempMilliC) / 1000})
	}
	if err := m.cfg.Store.AddSamples(ctx, samples); err != nil {
		return err
	}
	return m.presence(ctx, before, after)
}

// event stores a kiosk's event; an alarm opens (or bumps) an alarm, and a
// code ending in ".ok" or ".back" clears the open alarms of its family
// (disk.ok clears disk.full and disk.warning, reader.ok reader.offline,
// scanner.back scanner.absent).
func (m *Monitor) event(ctx context.Context, id string, e wire.Event, raw []byte) error {
	at := e.Time
	if at.IsZero() || at.After(m.now().Add(time.Minute)) {
		at = m.now()
	}
	if err := m.cfg.Store.AddEvent(ctx, id, at, e.Code, e.Severity, raw); err != nil {
		return err
	}
	before, after, err := m.update(ctx, id, func(k *store.KioskState) error { m.seen(k, true, m.now()); return nil })
	if err != nil {
		return err
	}
	if err := m.presence(ctx, before, after); err != nil {
		return err
	}
	m.hub.notify("events")
	if family, ok := clearsFamily(e.Code); ok {
		return m.clearAlarms(ctx, id, func(code string) bool { return strings.HasPrefix(code, family+".") })
	}
	if e.Severity != wire.SeverityAlarm {
		return nil
	}
	_, err = m.cfg.Store.RaiseAlarm(ctx, store.Alarm{KioskID: id, Code: e.Code, Severity: e.Severity,
		Detail: e.Detail, FirstSeen: at, LastSeen: at, Count: 1})
	m.hub.notify("alarms")
	return err
}

// result takes a kiosk's signed answer to a command and records it in the
// audit log. A rotated key is enrolled (the result is signed with the old
// one); a support bundle is kept among the kiosk's events.
func (m *Monitor) result(ctx context.Context, id string, pub ed25519.PublicKey, payload []byte) error {
	var r wire.CommandResult
	if err := wire.Verify(pub, wire.TypeCommandResult, payload, &r); err != nil {
		if m.reannounced(ctx, id, pub, payload) {
			return nil
		}
		return fmt.Errorf("%w: command result: %v", ErrMessage, err)
	}
	if r.KioskID != id {
		return fmt.Errorf("%w: result for another kiosk", ErrMessage)
	}
	if r.Seq == 0 {
		// A refusal of something the kiosk could not even read: not one
		// of our commands (or one broken on the way). Keep it as an event.
		return m.cfg.Store.AddEvent(ctx, id, m.now(), "command.refused", wire.SeverityInfo, payload)
	}
	cmds, err := m.cfg.Store.Commands(ctx, id, 200)
	if err != nil {
		return err
	}
	var rec *store.CommandRecord
	for i := range cmds {
		if cmds[i].Seq == r.Seq {
			rec = &cmds[i]
			break
		}
	}
	switch {
	case rec == nil:
		return fmt.Errorf("%w: result for unknown command %d", ErrMessage, r.Seq)
	case rec.Kind != r.Kind && r.Status != wire.ResultRefused:
		return fmt.Errorf("%w: result of a %s for a %s command", ErrMessage, r.Kind, rec.Kind)
	case rec.Result != "" && rec.Detail != detailNotPublished:
		// Answered already: a replay's refusal must not overwrite the
		// first answer. (The monitor's own "not published" is no answer:
		// a publish that timed out may still have reached the kiosk.)
		return ErrStaleMsg
	}
	detail := r.Reason
	if r.Status == wire.ResultDone {
		switch r.Kind {
		case wire.CmdRotateKey:
			var kr wire.KeyRotation
			if err := json.Unmarshal(r.Data, &kr); err != nil || len(kr.NewPub) != ed25519.PublicKeySize {
				detail = "no new key in the answer"
				break
			}
			if err := m.cfg.Kiosks.Enrol(id, kr.NewPub); err != nil {
				return err
			}
			detail = "new key enrolled"
			defer m.confirmKey(ctx, id, kr.NewPub)
		case wire.CmdSupportBundle:
			if len(r.Data) > 0 {
				if err := m.cfg.Store.AddEvent(ctx, id, m.now(), "support-bundle", wire.SeverityInfo, r.Data); err != nil {
					return err
				}
				detail = "bundle in the kiosk's events"
			}
		}
	}
	if err := m.cfg.Store.SetResult(ctx, id, r.Seq, r.Status, detail, m.now()); err != nil {
		return err
	}
	m.hub.notify("commands")
	_, _, err = m.update(ctx, id, func(k *store.KioskState) error { m.seen(k, true, m.now()); return nil })
	return err
}

// rollout shows a kiosk's word on an update in the fleet table (the
// release side keeps the rollout itself).
func (m *Monitor) rollout(ctx context.Context, r wire.UpdateReport) error {
	_, _, err := m.update(ctx, r.KioskID, func(k *store.KioskState) error {
		m.seen(k, true, m.now())
		k.Rollout = r.State
		k.RolloutDetail = r.Version
		switch {
		case r.Reason != "":
			k.RolloutDetail += ", " + r.Reason
		case r.State == wire.UpdateDownloading && r.Progress > 0:
			k.RolloutDetail += fmt.Sprintf(", %.0f %%", 100*r.Progress)
		}
		return nil
	})
	return err
}

// reannounced takes a key rotation the kiosk announces again, signed with
// the key before the current one: the central enrolled the new key from an
// earlier copy, but its confirmation did not reach the kiosk. It is
// confirmed again only when the rotation answers a rotate-key command the
// central sent and names the key enrolled now; anything else signed with a
// retired key is not taken.
func (m *Monitor) reannounced(ctx context.Context, id string, current ed25519.PublicKey, payload []byte) bool {
	all, ok := m.cfg.Kiosks.(interface {
		Keys(kioskID string) ([]ed25519.PublicKey, error)
	})
	if !ok {
		return false
	}
	keys, err := all.Keys(id)
	if err != nil {
		return false
	}
	s, err := wire.OpenSigned(payload, wire.TypeCommandResult)
	if err != nil {
		return false
	}
	var r wire.CommandResult
	var kr wire.KeyRotation
	for _, k := range keys {
		if k.Equal(current) || s.Verify(k, &r) != nil {
			continue
		}
		if r.KioskID != id || r.Kind != wire.CmdRotateKey || r.Status != wire.ResultDone ||
			json.Unmarshal(r.Data, &kr) != nil || !current.Equal(ed25519.PublicKey(kr.NewPub)) {
			return false
		}
		cmds, err := m.cfg.Store.Commands(ctx, id, 200)
		if err != nil {
			return false
		}
		for _, c := range cmds {
			if c.Seq == r.Seq && c.Kind == wire.CmdRotateKey {
				m.confirmKey(ctx, id, current)
				return true
			}
		}
		return false
	}
	return false
}

// confirmKey tells the kiosk, signed, that its new key is enrolled, so it
// stops announcing the rotation. A confirmation that is lost is sent again
// when the kiosk announces again.
func (m *Monitor) confirmKey(ctx context.Context, id string, pub ed25519.PublicKey) {
	if _, err := m.send(ctx, MonitorUser, []string{id}, wire.CmdKeyEnrolled,
		map[string]string{"pub": base64.StdEncoding.EncodeToString(pub)}); err != nil {
		m.cfg.Log.Warn("monitor: key rotation not confirmed", "kiosk", id, "err", err)
	}
}

// clearsFamily returns the family of alarms an event's code clears: the
// code without its ".ok" or ".back" (a device that is back).
func clearsFamily(code string) (string, bool) {
	if f, ok := strings.CutSuffix(code, ".ok"); ok {
		return f, true
	}
	return strings.CutSuffix(code, ".back")
}
