// Package command carries out the central's signed commands on the kiosk:
// it checks each command's signature (the central's key), addressee,
// expiry and sequence number (persisted, so neither a replay nor a command
// overtaken by a newer one is carried out, across restarts too), carries it
// out through hooks the composition root supplies, and answers with a
// CommandResult signed with the device key. A refused command changes
// nothing but is answered, so the central's audit log shows the refusal.
//
// It also publishes the kiosk's births (see Births).
package command

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// Errors of Parse, each wrapped with detail; Refusal maps them to the
// reason codes of wire.CommandResult.
var (
	ErrMalformed = errors.New("command: malformed")
	ErrSignature = errors.New("command: not signed by the central")
	ErrKiosk     = errors.New("command: for another kiosk")
	ErrExpired   = errors.New("command: expired")
	ErrReplayed  = errors.New("command: sequence already carried out")
	ErrKind      = errors.New("command: unknown kind")
	ErrArgs      = errors.New("command: bad arguments")
	// ErrNoHook is returned when the kiosk has no way to carry out a
	// known command (the result is "failed", not "refused").
	ErrNoHook = errors.New("command: not supported on this kiosk")
)

// stateGroup names, per kind, the state a command sets, where a newer
// command of the same group supersedes an older one that arrives late.
var stateGroup = map[string]string{
	wire.CmdOutOfService: "service",
	wire.CmdInService:    "service",
}

// ReasonSuperseded is the reason of a "done" result for a command that
// arrived after a newer one setting the same state: it changed nothing.
const ReasonSuperseded = "superseded"

// Done is what a hook returns when it carried the command out and has an
// outcome worth naming ("no-update"): the result is "done" with Done as
// its reason code (a code, no personal data).
type Done string

func (d Done) Error() string { return string(d) }

// ReasonNotPending is the reason of a "done" result for a CmdKeyEnrolled
// that names no pending rotation (confirmed already): it changed nothing.
const ReasonNotPending = "not-pending"

// allowedArgs lists, per kind, the arguments a command may carry.
var allowedArgs = map[string][]string{
	wire.CmdReboot:        nil,
	wire.CmdOutOfService:  {"reason"},
	wire.CmdInService:     nil,
	wire.CmdResendStatus:  nil,
	wire.CmdSupportBundle: nil,
	wire.CmdCheckUpdates:  nil,
	wire.CmdRotateKey:     nil,
	wire.CmdKeyEnrolled:   {"pub"},
}

// Parse checks a command message as it arrived and returns the command.
// It verifies the envelope, the central's signature, that the command is
// for kioskID, not expired at now, not carried out before and not older
// than the anti-replay window w, of a known kind and with allowed
// arguments. It changes nothing; on error the returned command holds what
// could be read after the signature check (zero before it).
func Parse(data []byte, central ed25519.PublicKey, kioskID string, w *Window, now time.Time) (wire.Command, error) {
	s, err := wire.OpenSigned(data, wire.TypeCommand)
	if err != nil {
		return wire.Command{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var c wire.Command
	if err := s.Verify(central, &c); err != nil {
		if errors.Is(err, wire.ErrSignature) {
			return wire.Command{}, ErrSignature
		}
		return wire.Command{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case c.KioskID != kioskID:
		return c, ErrKiosk
	case c.Expires.IsZero() || !now.Before(c.Expires):
		return c, ErrExpired
	}
	if err := w.Check(c.Seq); err != nil {
		return c, err
	}
	allowed, ok := allowedArgs[c.Kind]
	if !ok {
		return c, fmt.Errorf("%w: %q", ErrKind, c.Kind)
	}
	for k := range c.Args {
		if !contains(allowed, k) {
			return c, fmt.Errorf("%w: %q", ErrArgs, k)
		}
	}
	if c.Kind == wire.CmdOutOfService && !wire.ValidServiceReason(c.Args["reason"]) {
		return c, fmt.Errorf("%w: reason", ErrArgs)
	}
	if c.Kind == wire.CmdKeyEnrolled {
		if _, err := ParseKeyArg(c.Args["pub"]); err != nil {
			return c, err
		}
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Refusal returns the wire.CommandResult reason code of a Parse error.
func Refusal(err error) string {
	switch {
	case errors.Is(err, ErrSignature):
		return wire.RefusedSignature
	case errors.Is(err, ErrKiosk):
		return wire.RefusedKiosk
	case errors.Is(err, ErrExpired):
		return wire.RefusedExpired
	case errors.Is(err, ErrTooOld):
		return wire.RefusedTooOld
	case errors.Is(err, ErrReplayed):
		return wire.RefusedReplayed
	case errors.Is(err, ErrKind):
		return wire.RefusedKind
	case errors.Is(err, ErrArgs):
		return wire.RefusedArgs
	}
	return wire.RefusedMalformed
}

// Hooks carry commands out. Each may be nil: the command is then answered
// "failed" with ErrNoHook's reason. Hooks run on the Handler's goroutine
// and must not block for long; they get a context bounded by
// Config.HookTimeout.
type Hooks struct {
	// Reboot restarts the kiosk. It is called after the result was sent.
	Reboot func(ctx context.Context) error
	// Service takes the kiosk out of service (out true, with the reason
	// key the customer screen shows) or puts it back in service.
	Service func(ctx context.Context, out bool, reason string) error
	// ResendStatus publishes status, birth and telemetry again.
	ResendStatus func(ctx context.Context) error
	// SupportBundle collects the bundle (no personal data).
	SupportBundle func(ctx context.Context) (wire.SupportBundle, error)
	// CheckUpdates asks the updater to look for an update now.
	CheckUpdates func(ctx context.Context) error
	// RotateKey creates a new device key and returns it; the result
	// naming it is signed with the old key. With ActivateKey set it only
	// persists the key as the next one; without, it also activates it.
	RotateKey func(ctx context.Context) (ed25519.PrivateKey, error)
	// ActivateKey makes k (from RotateKey) the device key, persisted. It
	// is called once the rotation is kept for announcing again, so a
	// crash leaves either the old key and nothing announced, or the new
	// key and its announcement; never a key in use that the central
	// cannot learn.
	ActivateKey func(ctx context.Context, k ed25519.PrivateKey) error
}

// Config configures a Handler.
type Config struct {
	KioskID    string
	CentralKey ed25519.PublicKey
	// Key returns the current device key (which RotateKey may change).
	Key func() ed25519.PrivateKey
	// Window is the persisted anti-replay window of the commands carried
	// out.
	Window *Window
	// Rotation keeps a key rotation until the central confirms it (nil:
	// key-enrolled is answered "not supported" and nothing is announced
	// again).
	Rotation *Pending
	// AnnounceMin and AnnounceMax bound the back-off with which Run
	// publishes a pending rotation again (defaults 1 s and 5 min).
	AnnounceMin, AnnounceMax time.Duration
	// Publish sends a signed result to wire.CommandResultTopic; it may be
	// called from Handle's goroutine and should queue when offline.
	Publish func(topic string, payload []byte) error
	Hooks   Hooks
	// HookTimeout bounds each hook (default 30s).
	HookTimeout time.Duration
	// Now is the clock for expiry checks (time.Now if nil).
	Now func() time.Time
	Log *slog.Logger
}

// Handler checks and carries out commands one at a time.
type Handler struct {
	cfg     Config
	mu      sync.Mutex // one command at a time: the sequence check and its store
	queue   chan []byte
	dropped atomic.Int64
	// rotated is set when a rotation became pending (Run restarts its
	// announcement back-off).
	rotated atomic.Bool
	// next is the key a rotation made, until Handle activates it (mu).
	next ed25519.PrivateKey
}

// queueLen bounds the commands waiting; more are dropped (and counted):
// the central sees no answer and may send again.
const queueLen = 16

// Submit queues a command message for Run; it never blocks, so it may be
// called from the MQTT client's handler.
func (h *Handler) Submit(payload []byte) {
	select {
	case h.queue <- append([]byte(nil), payload...):
	default:
		h.dropped.Add(1)
	}
}

// Dropped is the number of command messages Submit dropped.
func (h *Handler) Dropped() int64 { return h.dropped.Load() }

// Run handles submitted commands in arrival order until ctx is done.
// While a key rotation is pending it publishes it again, after AnnounceMin,
// then twice as long each time up to AnnounceMax.
func (h *Handler) Run(ctx context.Context) {
	wait := h.cfg.AnnounceMin
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-h.queue:
			h.Handle(ctx, b)
			if h.rotated.Swap(false) {
				wait = h.cfg.AnnounceMin
				t.Reset(wait)
			}
		case <-t.C:
			if h.Reannounce() {
				wait = min(2*wait, h.cfg.AnnounceMax)
			} else {
				wait = h.cfg.AnnounceMax
			}
			t.Reset(wait)
		}
	}
}

// Reannounce publishes the pending key rotation again, if there is one,
// and reports whether there was (the appliance calls it at every connect).
func (h *Handler) Reannounce() bool {
	if h.cfg.Rotation == nil {
		return false
	}
	msg, _ := h.cfg.Rotation.Get()
	if msg == nil {
		return false
	}
	if h.cfg.Publish != nil {
		if err := h.cfg.Publish(wire.CommandResultTopic(h.cfg.KioskID), msg); err != nil {
			h.cfg.Log.Warn("command: key rotation not announced", "err", err)
		}
	}
	return true
}

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HookTimeout <= 0 {
		cfg.HookTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.AnnounceMin <= 0 {
		cfg.AnnounceMin = time.Second
	}
	if cfg.AnnounceMax < cfg.AnnounceMin {
		cfg.AnnounceMax = max(5*time.Minute, cfg.AnnounceMin)
	}
	return &Handler{cfg: cfg, queue: make(chan []byte, queueLen)}
}

// Handle checks and carries out one command message and publishes the
// signed result. It returns the result (also when publishing failed).
func (h *Handler) Handle(ctx context.Context, data []byte) wire.CommandResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The key is taken before the command runs: the result of a key
	// rotation is signed with the old key, which the central trusts.
	key := h.cfg.Key()
	res := h.handle(ctx, data)
	var after func()
	if res.Status == wire.ResultDone && res.Kind == wire.CmdReboot {
		after = func() {
			rctx, cancel := context.WithTimeout(ctx, h.cfg.HookTimeout)
			defer cancel()
			if err := h.cfg.Hooks.Reboot(rctx); err != nil {
				h.cfg.Log.Warn("command: reboot failed", "err", err)
			}
		}
	}
	b, err := wire.Sign(key, wire.TypeCommandResult, res)
	next := h.next
	h.next = nil
	if err == nil && res.Status == wire.ResultDone && res.Kind == wire.CmdRotateKey && h.cfg.Rotation != nil {
		// Kept until the central confirms: if this answer is lost, the
		// copies Run publishes again still prove the new key.
		if serr := h.cfg.Rotation.Set(b); serr != nil {
			// Not kept: the new key is neither announced nor used.
			h.cfg.Log.Error("command: rotation not kept for announcing again", "err", serr)
			res.Status, res.Reason, res.Data, next = wire.ResultFailed, "storage", nil, nil
			b, err = wire.Sign(key, wire.TypeCommandResult, res)
		} else {
			h.rotated.Store(true)
		}
	}
	if next != nil && h.cfg.Hooks.ActivateKey != nil {
		actx, cancel := context.WithTimeout(ctx, h.cfg.HookTimeout)
		if aerr := h.cfg.Hooks.ActivateKey(actx, next); aerr != nil {
			h.cfg.Log.Error("command: new key not activated", "err", aerr)
		}
		cancel()
	}
	if err == nil && h.cfg.Publish != nil {
		err = h.cfg.Publish(wire.CommandResultTopic(h.cfg.KioskID), b)
	}
	if err != nil {
		h.cfg.Log.Warn("command: result not sent", "seq", res.Seq, "err", err)
	}
	if after != nil {
		after()
	}
	return res
}

func (h *Handler) handle(ctx context.Context, data []byte) wire.CommandResult {
	now := h.cfg.Now()
	res := wire.CommandResult{KioskID: h.cfg.KioskID, Time: now.UTC()}
	c, err := Parse(data, h.cfg.CentralKey, h.cfg.KioskID, h.cfg.Window, now)
	if err != nil {
		res.Status, res.Reason = wire.ResultRefused, Refusal(err)
		if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMalformed) {
			res.Seq, res.Kind = c.Seq, c.Kind
		}
		h.cfg.Log.Warn("command refused", "seq", res.Seq, "reason", res.Reason, "err", err)
		return res
	}
	res.Seq, res.Kind = c.Seq, c.Kind
	// A command that sets a state (out of / in service) and arrives after
	// a newer one that set it is marked carried out but changes nothing:
	// the newer word stands.
	group := stateGroup[c.Kind]
	superseded := group != "" && h.cfg.Window.Latest(group) > c.Seq
	// The sequence is stored before the command runs: a command that
	// reboots the kiosk must not run again after the reboot.
	if err := h.cfg.Window.Mark(c.Seq, group); err != nil {
		res.Status, res.Reason = wire.ResultFailed, "storage"
		h.cfg.Log.Error("command: sequence not stored", "err", err)
		return res
	}
	if superseded {
		res.Status, res.Reason = wire.ResultDone, ReasonSuperseded
		h.cfg.Log.Info("command superseded by a newer one", "seq", c.Seq, "kind", c.Kind)
		return res
	}
	hctx, cancel := context.WithTimeout(ctx, h.cfg.HookTimeout)
	defer cancel()
	err = h.run(hctx, c, &res)
	if d, ok := errors.AsType[Done](err); ok {
		res.Status, res.Reason = wire.ResultDone, string(d)
		h.cfg.Log.Info("command done", "seq", c.Seq, "kind", c.Kind, "outcome", res.Reason)
		return res
	}
	if err != nil {
		res.Status, res.Reason = wire.ResultFailed, reasonOf(err)
		h.cfg.Log.Warn("command failed", "seq", c.Seq, "kind", c.Kind, "err", err)
		return res
	}
	res.Status = wire.ResultDone
	h.cfg.Log.Info("command done", "seq", c.Seq, "kind", c.Kind)
	return res
}

// reasonOf turns a hook's error into a reason code without its text, which
// might carry anything.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrNoHook):
		return "not-supported"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

func (h *Handler) run(ctx context.Context, c wire.Command, res *wire.CommandResult) error {
	hk := h.cfg.Hooks
	switch c.Kind {
	case wire.CmdReboot:
		if hk.Reboot == nil {
			return ErrNoHook
		}
		return nil // after the result is sent
	case wire.CmdOutOfService, wire.CmdInService:
		if hk.Service == nil {
			return ErrNoHook
		}
		return hk.Service(ctx, c.Kind == wire.CmdOutOfService, c.Args["reason"])
	case wire.CmdResendStatus:
		if hk.ResendStatus == nil {
			return ErrNoHook
		}
		return hk.ResendStatus(ctx)
	case wire.CmdCheckUpdates:
		if hk.CheckUpdates == nil {
			return ErrNoHook
		}
		return hk.CheckUpdates(ctx)
	case wire.CmdSupportBundle:
		if hk.SupportBundle == nil {
			return ErrNoHook
		}
		b, err := hk.SupportBundle(ctx)
		if err != nil {
			return err
		}
		b.KioskID, b.Time = h.cfg.KioskID, h.cfg.Now().UTC()
		if res.Data, err = json.Marshal(b); err != nil {
			return err
		}
		if len(res.Data) > wire.MaxMessage/2 {
			res.Data = nil
			return errors.New("command: support bundle too large")
		}
		return nil
	case wire.CmdRotateKey:
		if hk.RotateKey == nil {
			return ErrNoHook
		}
		nk, err := hk.RotateKey(ctx)
		if err != nil {
			return err
		}
		h.next = nk
		res.Data, _ = json.Marshal(wire.KeyRotation{NewPub: nk.Public().(ed25519.PublicKey)})
		return nil
	case wire.CmdKeyEnrolled:
		if h.cfg.Rotation == nil {
			return ErrNoHook
		}
		pub, err := ParseKeyArg(c.Args["pub"])
		if err != nil {
			return err
		}
		ok, err := h.cfg.Rotation.Confirm(pub)
		if err != nil {
			return err
		}
		if !ok {
			// Confirmed before (the central said it twice), or an older
			// rotation's key: nothing to end.
			res.Reason = ReasonNotPending
		} else {
			h.cfg.Log.Info("command: key rotation confirmed by the central")
		}
		return nil
	}
	return ErrKind
}
