// Package update is the kiosk's side of an update offer: it checks the
// central's signed wire.UpdateOffer (signature, kiosk, expiry, sequence),
// runs the ota state machine on it, and sends the machine's reports to the
// central, signed with the device key. The appliance gives it the health
// checks, whether a switch may happen now (no visit, maintenance window)
// and a way to tell the customer screen the kiosk is out of service for
// the update.
package update

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/wire"
)

// Errors of offers.
var (
	ErrOffer = errors.New("update: offer refused")
)

// Config is what the Service works with.
type Config struct {
	KioskID    string
	CentralKey ed25519.PublicKey  // verifies offers
	DeviceKey  ed25519.PrivateKey // signs reports
	// Updaters are the ota machines, one per payload kind the kiosk
	// installs (application bundle, root file system); their Report and
	// Switching are the Service's (see NewService).
	Updaters []*ota.Updater
	// SeqFile keeps the last accepted offer's sequence number.
	SeqFile string
	FS      durable.FS
	// Publish sends a signed report (the uplink's PublishSigned).
	Publish func(topic string, payload []byte, retained bool) error
	Log     *slog.Logger
	Now     func() time.Time
}

// Service receives offers and runs updates, one at a time.
type Service struct {
	c       Config
	offers  chan []byte
	mu      sync.Mutex
	pending []wire.UpdateReport
	kick    chan struct{}
	acks    chan struct{} // the central acknowledged the trial report
	// trialAcked is set when the central acknowledged the trial report:
	// until then it is sent again (a report lost on the way would roll a
	// good version back for want of the round trip).
	trialAcked atomic.Bool
	checks     chan chan error
	// mqtt fetches over the broker when Settings.Transport says so.
	mqtt *ota.MQTTSource
	// switching is true while the kiosk is out of service for an update.
	switching atomic.Bool
	phase     atomic.Value // string
}

// New returns a Service; Run starts it.
func New(c Config) *Service {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FS == nil {
		c.FS = durable.OS{}
	}
	s := &Service{c: c, offers: make(chan []byte, 1), kick: make(chan struct{}, 1), acks: make(chan struct{}, 1),
		checks: make(chan chan error)}
	s.phase.Store("")
	return s
}

// Report is the ota.Config.Report of the Service's updater.
func (s *Service) Report(r wire.UpdateReport) {
	r.KioskID = s.c.KioskID
	s.phase.Store(r.State)
	s.mu.Lock()
	// Progress reports replace each other; state changes queue.
	if n := len(s.pending); n > 0 && s.pending[n-1].State == r.State && r.State == wire.UpdateDownloading {
		s.pending[n-1] = r
	} else if n < 256 {
		s.pending = append(s.pending, r)
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// FetchReply takes a message of the kiosk's fetch reply topic (the
// uplink's OnFetchReply); without MQTT delivery it is dropped. It never
// blocks.
func (s *Service) FetchReply(payload []byte) {
	if s.mqtt != nil {
		s.mqtt.Deliver(payload)
	}
}

// Switching is the ota.Config.Switching of the Service's updater.
func (s *Service) Switching(on bool) { s.switching.Store(on) }

// OutOfService reports whether the customer screen must say "out of
// service for an update" (the switch is under way).
func (s *Service) OutOfService() bool { return s.switching.Load() }

// Phase returns the update's last reported state ("" when none).
func (s *Service) Phase() string { return s.phase.Load().(string) }

// Offer takes a message from the update topic (unverified): an offer is
// queued (one arriving while one waits replaces it), an acknowledgement
// is checked and wakes AwaitAck. It never blocks.
func (s *Service) Offer(payload []byte) {
	if env, err := wire.OpenSigned(payload, wire.TypeUpdateAck); err == nil {
		var a wire.UpdateAck
		if err := env.Verify(s.c.CentralKey, &a); err != nil || a.KioskID != s.c.KioskID {
			s.c.Log.Warn("update: acknowledgement refused", "err", err)
			return
		}
		for _, u := range s.c.Updaters {
			st := u.State()
			switch {
			case a.RolloutID != st.RolloutID || st.Phase == "":
			case a.State == wire.UpdateTrial && st.Phase == wire.UpdateTrial:
				s.trialAcked.Store(true)
				select {
				case s.acks <- struct{}{}:
				default:
				}
			case a.State == st.Phase && st.Done():
				// The central has recorded the outcome: stop re-sending it.
				if err := u.MarkReported(a.State); err != nil {
					s.c.Log.Warn("update: state not saved", "err", err)
				}
			}
		}
		return
	}
	b := append([]byte(nil), payload...)
	for {
		select {
		case s.offers <- b:
			return
		default:
		}
		select {
		case <-s.offers:
		default:
		}
	}
}

// AwaitAck waits until the central has acknowledged this kiosk's
// booted-on-trial report (a signed round trip through the broker and the
// central), or ctx ends.
func (s *Service) AwaitAck(ctx context.Context) error {
	select {
	case <-s.acks:
		return nil
	case <-ctx.Done():
		return errors.New("receipt-round-trip")
	}
}

// Check verifies an offer: the central's signature, this kiosk, not
// expired, a sequence number above the last accepted one, and a kind the
// kiosk installs.
func (s *Service) Check(payload []byte) (wire.UpdateOffer, error) {
	var o wire.UpdateOffer
	if err := wire.Verify(s.c.CentralKey, wire.TypeUpdateOffer, payload, &o); err != nil {
		return o, fmt.Errorf("%w: %w", ErrOffer, err)
	}
	if o.KioskID != s.c.KioskID {
		return o, fmt.Errorf("%w: for kiosk %q", ErrOffer, o.KioskID)
	}
	if !s.c.Now().Before(o.Expires) {
		return o, fmt.Errorf("%w: %w", ErrOffer, wire.ErrExpired)
	}
	if o.Seq <= s.lastSeq() {
		return o, fmt.Errorf("%w: sequence %d replayed", ErrOffer, o.Seq)
	}
	if o.Kind != ota.KindBundle && o.Kind != ota.KindRootfs {
		return o, fmt.Errorf("%w: kind %q", ErrOffer, o.Kind)
	}
	if len(s.c.Updaters) > 0 && s.updater(o.Kind) == nil {
		return o, fmt.Errorf("%w: kind %q is not installed here", ErrOffer, o.Kind)
	}
	return o, nil
}

// updater returns the machine installing kind (nil: none).
func (s *Service) updater(kind string) *ota.Updater {
	for _, u := range s.c.Updaters {
		if u.Kind() == kind {
			return u
		}
	}
	return nil
}

// Outcomes of CheckNow that are no fault.
var (
	// ErrNoUpdate: the repository holds nothing newer for this kiosk.
	ErrNoUpdate = errors.New("update: no update")
	// ErrInProgress: an update is under way already.
	ErrInProgress = errors.New("update: an update is under way")
)

// CheckNow asks the update repository now ("check for updates now"):
// it returns nil when it found an update newer than the running version
// and started installing it (the normal flow: download, the maintenance
// window, switch, health check, reports), ErrNoUpdate when there is none,
// ErrInProgress while an update is under way, or the fault that kept it
// from asking. It waits for the Service's loop (Run) until ctx ends.
func (s *Service) CheckNow(ctx context.Context) error {
	for _, u := range s.c.Updaters {
		if !u.State().Done() {
			return ErrInProgress
		}
	}
	reply := make(chan error, 1)
	select {
	case s.checks <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// check is CheckNow on the Service's loop: each updater asks the
// repository; the first one that finds an update runs it.
func (s *Service) check(ctx context.Context, reply chan<- error) {
	var found *ota.Updater
	var offer wire.UpdateOffer
	err := ErrNoUpdate
	for _, u := range s.c.Updaters {
		if !u.State().Done() {
			err = ErrInProgress
			break
		}
		o, e := u.Newest(ctx)
		if errors.Is(e, ota.ErrNoUpdate) {
			continue
		}
		if e != nil {
			err = e
			continue
		}
		found, offer, err = u, o, nil
		break
	}
	reply <- err
	if found == nil {
		return
	}
	s.c.Log.Info("update: found by a check", "target", offer.Target, "version", offer.Version, "kind", offer.Kind)
	s.carryOut(ctx, found, offer)
}

func (s *Service) lastSeq() uint64 {
	b, err := s.c.FS.ReadFile(s.c.SeqFile)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// Run resumes whatever the persisted state says (a trial after a switch,
// an interrupted download), then takes offers until ctx ends. Reports are
// sent as the broker connection allows.
func (s *Service) Run(ctx context.Context) error {
	go s.sendReports(ctx)
	for _, u := range s.c.Updaters {
		if err := u.Resume(ctx); err != nil && ctx.Err() == nil {
			s.c.Log.Warn("update: resume", "kind", u.Kind(), "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reply := <-s.checks:
			s.check(ctx, reply)
		case p := <-s.offers:
			o, err := s.Check(p)
			if err != nil {
				s.c.Log.Warn("update: offer refused", "err", err)
				continue
			}
			if err := durable.WriteFile(s.c.FS, s.c.SeqFile, []byte(strconv.FormatUint(o.Seq, 10))); err != nil {
				s.c.Log.Warn("update: sequence not saved", "err", err)
				continue
			}
			s.c.Log.Info("update: offer", "target", o.Target, "version", o.Version, "rollout", o.RolloutID)
			u := s.updater(o.Kind)
			if u == nil {
				s.c.Log.Warn("update: offer of a kind not installed here", "kind", o.Kind)
				continue
			}
			s.carryOut(ctx, u, o)
		}
	}
}

// carryOut runs an offer on u until it ends (refused, switched, failed for
// good) or ctx does; faults are retried from where it stopped.
func (s *Service) carryOut(ctx context.Context, u *ota.Updater, o wire.UpdateOffer) {
	err := u.Offer(ctx, o)
	for err != nil && ctx.Err() == nil && !errors.Is(err, ota.ErrRefused) && !errors.Is(err, ota.ErrBusy) {
		// A fault (network, disk): try again later from where it stopped.
		s.c.Log.Warn("update: interrupted, resuming later", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		case p := <-s.offers:
			s.Offer(p) // handled after this one
		case reply := <-s.checks:
			reply <- ErrInProgress
		}
		err = u.Resume(ctx)
	}
	if err != nil && ctx.Err() == nil {
		s.c.Log.Warn("update: offer ended", "err", err)
	}
}

func (s *Service) sendReports(ctx context.Context) {
	// Reports wait for the broker connection: asked again every second
	// (a report queued before the uplink connected goes out soon after).
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastResend, lastTrial := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		for {
			s.mu.Lock()
			if len(s.pending) == 0 {
				s.mu.Unlock()
				break
			}
			r := s.pending[0]
			s.mu.Unlock()
			msg, err := wire.Sign(s.c.DeviceKey, wire.TypeUpdateReport, r)
			if err != nil {
				s.c.Log.Warn("update: report not signed", "err", err)
				s.drop()
				continue
			}
			if err := s.c.Publish(wire.UpdateReportTopic(s.c.KioskID), msg, false); err != nil {
				break // not connected: later
			}
			s.drop()
		}
		// A trial the central has not acknowledged yet is reported again
		// soon: the health check waits for that round trip.
		if !s.trialAcked.Load() && time.Since(lastTrial) > TrialResendInterval {
			for _, u := range s.c.Updaters {
				if st := u.State(); st.Phase == wire.UpdateTrial {
					lastTrial = time.Now()
					s.Report(wire.UpdateReport{RolloutID: st.RolloutID, Target: st.Target, Version: st.Version,
						State: st.Phase, Time: s.c.Now()})
				}
			}
		}
		// An outcome the central has not acknowledged is sent again.
		if time.Since(lastResend) > ResendInterval {
			for _, u := range s.c.Updaters {
				if st := u.State(); st.Done() && st.Phase != "" && st.Reported != st.Phase {
					lastResend = time.Now()
					s.Report(wire.UpdateReport{RolloutID: st.RolloutID, Target: st.Target, Version: st.Version,
						State: st.Phase, Reason: st.Reason, Time: s.c.Now()})
				}
			}
		}
	}
}

// ResendInterval is how often an unacknowledged outcome is reported again.
const ResendInterval = 15 * time.Second

// TrialResendInterval is how often an unacknowledged trial is reported
// again while the health check waits for the central's answer.
const TrialResendInterval = 3 * time.Second

func (s *Service) drop() {
	s.mu.Lock()
	s.pending = s.pending[1:]
	s.mu.Unlock()
}

// Settings are the kiosk's update configuration.
type Settings struct {
	// Dir holds the update state, the trusted TUF metadata and (for
	// application bundles) the slots.
	Dir string
	// MetadataURL and TargetsURL are the update server's TUF repository.
	MetadataURL, TargetsURL string
	// Window is the maintenance window, "02:00-04:00" in local time
	// (empty: any time).
	Window string
	// Transport is "http" (default) or "mqtt": metadata and payloads in
	// chunks over the broker (ota.MQTTSource; replies through FetchReply).
	Transport string
}

// Transports of Settings.
const (
	TransportHTTP = "http"
	TransportMQTT = "mqtt"
)

// ParseWindow parses a maintenance window "HH:MM-HH:MM" (it may span
// midnight) and returns whether a time lies inside it.
func ParseWindow(s string) (func(time.Time) bool, error) {
	if s == "" {
		return func(time.Time) bool { return true }, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return nil, fmt.Errorf("update: window %q: want HH:MM-HH:MM", s)
	}
	from, err1 := time.Parse("15:04", strings.TrimSpace(a))
	to, err2 := time.Parse("15:04", strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("update: window %q: want HH:MM-HH:MM", s)
	}
	f, t := from.Hour()*60+from.Minute(), to.Hour()*60+to.Minute()
	return func(now time.Time) bool {
		m := now.Hour()*60 + now.Minute()
		if f <= t {
			return m >= f && m < t
		}
		return m >= f || m < t
	}, nil
}

// State is what the UI reads: whether the kiosk is out of service for an
// update, and the update's phase.
type State struct {
	OutOfService bool   `json:"out_of_service"`
	Phase        string `json:"phase,omitempty"`
}

// MarshalState returns the service's state as JSON (for the UI).
func (s *Service) MarshalState() []byte {
	b, _ := json.Marshal(State{OutOfService: s.OutOfService(), Phase: s.Phase()})
	return b
}
