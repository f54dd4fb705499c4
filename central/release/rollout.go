package release

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// Rollout states (store.Rollout.State).
const (
	RolloutRunning = "running"
	RolloutHalted  = "halted"
	RolloutDone    = "done"
)

// Kiosk states in a rollout, as the store keeps and the operators see them.
const (
	KioskOffered     = "offered"
	KioskDownloading = "downloading"
	KioskInstalled   = "installed" // written, verified, switched or on trial
	KioskCommitted   = "committed"
	KioskRolledBack  = "rolled-back"
	KioskRefused     = "refused"
)

// Errors of rollouts.
var (
	ErrRollout = errors.New("release: bad rollout")
	ErrReport  = errors.New("release: bad update report")
)

// OfferTTL is how long an update offer stays valid.
const OfferTTL = 7 * 24 * time.Hour

// Publisher publishes an MQTT message.
type Publisher func(ctx context.Context, topic string, payload []byte, retained bool) error

// KioskKeys looks up an enrolled kiosk's public key.
type KioskKeys interface {
	Lookup(kioskID string) (ed25519.PublicKey, error)
}

// Store is what rollouts need of the central's store.
type Store interface {
	store.Rollouts
	store.Fleet
	NextSeq(ctx context.Context, kioskID string) (uint64, error)
}

// Manager runs rollouts: it offers a rollout's target to its kiosks
// (canaries first), records their reports and halts a rollout whose
// failures reach its threshold.
type Manager struct {
	Store   Store
	Repo    Repo
	Kiosks  KioskKeys
	SignKey ed25519.PrivateKey
	Publish Publisher
	// MetadataURL and TargetsURL are what offers name (the kiosk's own
	// configuration takes precedence).
	MetadataURL, TargetsURL string
	Now                     func() time.Time
	Log                     *slog.Logger
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Start checks a new rollout against the repository and stores it; Step
// then offers it.
func (m *Manager) Start(ctx context.Context, r store.Rollout) error {
	if !wire.ValidID(r.ID) || r.Percent < 0 || r.Percent > 100 {
		return fmt.Errorf("%w: id %q, percent %d", ErrRollout, r.ID, r.Percent)
	}
	if _, err := m.Store.Rollout(ctx, r.ID); err == nil {
		return fmt.Errorf("%w: %s exists", ErrRollout, r.ID)
	}
	_, c, err := m.Repo.Target(r.Target)
	if err != nil {
		return err
	}
	if r.Version == "" {
		r.Version = c.Version
	}
	if r.Version != c.Version {
		return fmt.Errorf("%w: target %s is version %s", ErrRollout, r.Target, c.Version)
	}
	if r.FailThreshold < 1 {
		r.FailThreshold = 1
	}
	r.State, r.Created = RolloutRunning, m.now()
	return m.Store.PutRollout(ctx, r)
}

// Members returns the kiosks a rollout is for: the canaries, then the
// share Percent of the group's kiosks (a stable choice per rollout).
func (m *Manager) Members(ctx context.Context, r store.Rollout) (canary, rest []string, err error) {
	ks, err := m.Store.Kiosks(ctx, r.Group)
	if err != nil {
		return nil, nil, err
	}
	isCanary := map[string]bool{}
	for _, c := range r.Canary {
		isCanary[c] = true
	}
	canary = append(canary, r.Canary...)
	var others []string
	for _, k := range ks {
		if !isCanary[k.KioskID] {
			others = append(others, k.KioskID)
		}
	}
	rank := func(id string) uint64 {
		h := sha256.Sum256([]byte(r.ID + "/" + id))
		return binary.BigEndian.Uint64(h[:8])
	}
	sort.Slice(others, func(i, j int) bool { return rank(others[i]) < rank(others[j]) })
	n := (len(others)*r.Percent + 99) / 100
	return canary, others[:n], nil
}

// Step moves every running rollout on: offers to kiosks not yet offered
// (the rest only once every canary committed), halts on too many
// failures, ends when every member is done.
func (m *Manager) Step(ctx context.Context) error {
	rs, err := m.Store.Rollouts(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.State != RolloutRunning {
			continue
		}
		if err := m.step(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) step(ctx context.Context, r store.Rollout) error {
	states, err := m.Store.RolloutKiosks(ctx, r.ID)
	if err != nil {
		return err
	}
	failed := 0
	for _, s := range states {
		if s == KioskRolledBack || s == KioskRefused {
			failed++
		}
	}
	if failed >= r.FailThreshold {
		r.State, r.Reason = RolloutHalted, fmt.Sprintf("%d kiosks failed (threshold %d)", failed, r.FailThreshold)
		m.log().Warn("release: rollout halted", "rollout", r.ID, "failed", failed)
		return m.Store.PutRollout(ctx, r)
	}
	canary, rest, err := m.Members(ctx, r)
	if err != nil {
		return err
	}
	// The rest follow once every canary is through (failures below the
	// threshold, or the rollout would have halted above).
	wave := canary
	canariesDone := true
	for _, k := range canary {
		if !terminal(states[k]) {
			canariesDone = false
		}
	}
	if canariesDone {
		wave = append(wave, rest...)
	}
	done := canariesDone
	for _, k := range wave {
		switch states[k] {
		case "":
			done = false
			if err := m.offer(ctx, r, k); err != nil {
				m.log().Warn("release: offer not sent", "rollout", r.ID, "kiosk", k, "err", err)
			}
		case KioskCommitted, KioskRolledBack, KioskRefused:
		default:
			done = false
		}
	}
	if done {
		r.State = RolloutDone
		return m.Store.PutRollout(ctx, r)
	}
	return nil
}

func (m *Manager) offer(ctx context.Context, r store.Rollout, kioskID string) error {
	seq, err := m.Store.NextSeq(ctx, kioskID)
	if err != nil {
		return err
	}
	_, c, err := m.Repo.Target(r.Target)
	if err != nil {
		return err
	}
	o := wire.UpdateOffer{KioskID: kioskID, Seq: seq, Expires: m.now().Add(OfferTTL), RolloutID: r.ID,
		Target: r.Target, Version: r.Version, Kind: c.Kind, MetadataURL: m.MetadataURL, TargetsURL: m.TargetsURL}
	msg, err := wire.Sign(m.SignKey, wire.TypeUpdateOffer, o)
	if err != nil {
		return err
	}
	if m.Publish == nil {
		return errors.New("release: no broker")
	}
	// Retained: a kiosk that is offline gets the offer when it connects.
	if err := m.Publish(ctx, wire.UpdateOfferTopic(kioskID), msg, true); err != nil {
		return err
	}
	return m.Store.SetRolloutKiosk(ctx, r.ID, kioskID, KioskOffered, "", m.now())
}

func terminal(s string) bool { return s == KioskCommitted || s == KioskRolledBack || s == KioskRefused }

// KioskStatus is one kiosk's line of a rollout's status.
type KioskStatus struct {
	KioskID, State, Detail string
}

// RolloutDetails is implemented by stores that return each kiosk's detail
// (progress, reason) with its state.
type RolloutDetails interface {
	RolloutKioskDetails(ctx context.Context, id string) (map[string][2]string, error)
}

// Status returns a rollout and every member's state (kiosks not yet
// offered have state ""), canaries first.
func (m *Manager) Status(ctx context.Context, id string) (store.Rollout, []KioskStatus, error) {
	r, err := m.Store.Rollout(ctx, id)
	if err != nil {
		return r, nil, err
	}
	states, err := m.Store.RolloutKiosks(ctx, id)
	if err != nil {
		return r, nil, err
	}
	var details map[string][2]string
	if d, ok := m.Store.(RolloutDetails); ok {
		details, _ = d.RolloutKioskDetails(ctx, id)
	}
	canary, rest, err := m.Members(ctx, r)
	if err != nil {
		return r, nil, err
	}
	seen := map[string]bool{}
	var out []KioskStatus
	for _, k := range append(canary, rest...) {
		seen[k] = true
		out = append(out, KioskStatus{KioskID: k, State: states[k], Detail: details[k][1]})
	}
	for k, s := range states { // members no longer in the group
		if !seen[k] {
			out = append(out, KioskStatus{KioskID: k, State: s, Detail: details[k][1]})
		}
	}
	return r, out, nil
}

// kioskState maps a kiosk's update state to the rollout's view of it.
func kioskState(s string) (string, bool) {
	switch s {
	case wire.UpdateOffered:
		return KioskOffered, true
	case wire.UpdateDownloading:
		return KioskDownloading, true
	case wire.UpdateWritten, wire.UpdateVerified, wire.UpdateSwitched, wire.UpdateTrial:
		return KioskInstalled, true
	case wire.UpdateCommitted:
		return KioskCommitted, true
	case wire.UpdateRolledBack:
		return KioskRolledBack, true
	case wire.UpdateRefused:
		return KioskRefused, true
	}
	return "", false
}

// HandleReport verifies a kiosk's signed UpdateReport from topic and
// records it, then steps the rollout.
func (m *Manager) HandleReport(ctx context.Context, topic string, payload []byte) error {
	kioskID, ok := reportKiosk(topic)
	if !ok {
		return fmt.Errorf("%w: topic", ErrReport)
	}
	pub, err := m.Kiosks.Lookup(kioskID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrReport, err)
	}
	var rep wire.UpdateReport
	if err := wire.Verify(pub, wire.TypeUpdateReport, payload, &rep); err != nil {
		return fmt.Errorf("%w: %v", ErrReport, err)
	}
	if rep.KioskID != kioskID {
		return fmt.Errorf("%w: kiosk id", ErrReport)
	}
	if rep.RolloutID == "" {
		// An update the kiosk found itself ("check for updates now"):
		// no rollout to record it in; its trial gets its round trip and
		// its outcome is acknowledged.
		if _, ok := kioskState(rep.State); !ok {
			return fmt.Errorf("%w: state %q", ErrReport, rep.State)
		}
		if m.Log != nil {
			m.Log.Info("release: update without rollout", "kiosk", kioskID, "version", rep.Version, "state", rep.State, "reason", rep.Reason)
		}
		return m.ack(ctx, kioskID, "", rep)
	}
	r, err := m.Store.Rollout(ctx, rep.RolloutID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: unknown rollout", ErrReport)
	}
	if err != nil {
		return err
	}
	st, ok := kioskState(rep.State)
	if !ok {
		return fmt.Errorf("%w: state %q", ErrReport, rep.State)
	}
	detail := rep.Reason
	if st == KioskDownloading {
		detail = strconv.Itoa(int(rep.Progress*100)) + "%"
	}
	if err := m.Store.SetRolloutKiosk(ctx, r.ID, kioskID, st, detail, rep.Time); err != nil {
		return err
	}
	switch rep.State {
	case wire.UpdateTrial, wire.UpdateCommitted, wire.UpdateRolledBack, wire.UpdateRefused:
	default:
		return m.stepIfRunning(ctx, r)
	}
	if err := m.ack(ctx, kioskID, r.ID, rep); err != nil {
		return err
	}
	return m.stepIfRunning(ctx, r)
}

// ack answers a recorded report: the kiosk may stop re-sending it
// (committed, rolled back, refused), or its health check has its round
// trip (trial). Other states get no answer.
func (m *Manager) ack(ctx context.Context, kioskID, rollout string, rep wire.UpdateReport) error {
	switch rep.State {
	case wire.UpdateTrial, wire.UpdateCommitted, wire.UpdateRolledBack, wire.UpdateRefused:
	default:
		return nil
	}
	if m.Publish == nil {
		return nil
	}
	ack, err := wire.Sign(m.SignKey, wire.TypeUpdateAck, wire.UpdateAck{KioskID: kioskID, RolloutID: rollout,
		Version: rep.Version, State: rep.State, Time: m.now()})
	if err != nil {
		return err
	}
	return m.Publish(ctx, wire.UpdateOfferTopic(kioskID), ack, false)
}

func (m *Manager) stepIfRunning(ctx context.Context, r store.Rollout) error {
	if r.State == RolloutRunning {
		return m.step(ctx, r)
	}
	return nil
}

// ReportFilter is the subscription for every kiosk's update reports.
const ReportFilter = wire.Root + "/k/+/update"

func reportKiosk(topic string) (string, bool) {
	const pre = wire.Root + "/k/"
	if len(topic) <= len(pre) || topic[:len(pre)] != pre {
		return "", false
	}
	rest := topic[len(pre):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			id := rest[:i]
			if rest[i:] == "/update" && wire.ValidID(id) && wire.UpdateReportTopic(id) == topic {
				return id, true
			}
			return "", false
		}
	}
	return "", false
}
