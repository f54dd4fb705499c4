// Package uplink carries the kiosk's spool to the central over MQTT (paho):
// it sends each spooled packet as a signed offer and chunks, resumes from
// what the central reports missing, and deletes a spool entry only on the
// central's signed receipt. It also publishes the kiosk's retained status
// (with a last will), telemetry and events.
//
// The MQTT handlers never block the client: they verify and queue messages
// for the send loop, dropping (and counting) when the queue is full; every
// dropped message is recovered by the send loop's time-outs and re-offers.
package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/wire"
)

// Errors of the uplink.
var (
	ErrTimeout     = errors.New("uplink: no answer from the central")
	ErrNotOnline   = errors.New("uplink: not connected")
	ErrBadReceipt  = errors.New("uplink: receipt does not match the packet")
	ErrRejected    = errors.New("uplink: the central rejected the packet")
	errInterrupted = errors.New("uplink: interrupted")
	// ErrNoProgress marks a packet the central did not answer, or did not
	// complete, in a send attempt; it is retried later with back-off and
	// the packets behind it go on.
	ErrNoProgress = errors.New("uplink: no progress on the packet")
)

// Config configures an Uplink.
type Config struct {
	// Brokers are tried in turn, e.g. "tls://broker-a:8883".
	Brokers []string
	KioskID string
	// TLS holds the kiosk's client certificate and the broker's CA; nil for
	// plain TCP (simulation and tests only).
	TLS *tls.Config
	// Username and Password, if the broker wants them (simulation).
	Username, Password string
	// CentralKey verifies receipts and progress reports.
	CentralKey ed25519.PublicKey
	Spool      *spool.Spool
	Version    string
	// Window is the number of chunks in flight (default 32: measured with
	// make bench, the smallest window that keeps up with mosquitto_pub on
	// loopback; memory is about Window × 256 KiB).
	Window int
	// AnswerTimeout bounds the wait for progress or a receipt (default 15s).
	AnswerTimeout time.Duration
	// SettleTimeout bounds the wait for the receipt after the last chunk
	// was acknowledged by the broker (default 3s); then the packet is
	// offered again, and the central answers with the receipt or what it
	// still misses. Re-offering is cheap and idempotent.
	SettleTimeout time.Duration
	// Backoff bounds for reconnecting and retrying (defaults 500ms, 30s).
	MinBackoff, MaxBackoff time.Duration
	// A packet that makes no progress is retried after StuckBackoff,
	// doubling up to MaxStuckBackoff (defaults 15s, 10m); meanwhile the
	// packets behind it are sent. After StuckTries attempts without
	// progress (default 3) it raises EventPacketStuck naming the packet
	// id, once, and keeps being retried. A delivery proves the central
	// answers again: packets not yet alarmed are then retried at once.
	StuckBackoff, MaxStuckBackoff time.Duration
	StuckTries                    int
	// DeviceKey, if set, returns the kiosk's current device key. A waiting
	// packet whose manifest an earlier key signed (the key was rotated
	// while the packet waited) is offered signed with the current one: the
	// central knows only the current key, and would otherwise never file
	// it. The manifest's content, and so the packet, is unchanged.
	DeviceKey func() ed25519.PrivateKey
	// OnDelivered is called when a packet's receipt arrived and its spool
	// entry was removed. May be nil.
	OnDelivered func(packetID string)
	// Store is paho's store for in-flight messages; nil keeps them in memory.
	Store mqtt.Store
	// DiskInterval is how often the spool's disk state is checked while
	// idle (default 10s); a change raises an event.
	DiskInterval time.Duration
	// OnUpdateOffer receives each message on the kiosk's update offer
	// topic as it came, unverified (firmware/update checks it). It must
	// not block. May be nil.
	OnUpdateOffer func(payload []byte)
	// OnFetchReply receives each message on the kiosk's fetch reply topic
	// (update chunks over the broker, ota.MQTTSource), unverified. It must
	// not block. May be nil.
	OnFetchReply func(payload []byte)
	// OnConnect is called on its own goroutine after each connect, once
	// the online status is published (the kiosk publishes its birth from
	// it). May be nil.
	OnConnect func()
	// OnCommand receives each message on the kiosk's command topic as it
	// came, unverified (the command handler checks it). It is called from
	// the MQTT client's handler and must not block. May be nil.
	OnCommand func(payload []byte)
	// OnStaffList receives each message on the kiosk's staff list topic
	// (wire.StaffListTopic, retained) as it came, unverified (service
	// mode checks it). It must not block. May be nil.
	OnStaffList func(payload []byte)
	// Logger receives connection faults and packet ids (never content);
	// nil uses slog.Default().
	Logger *slog.Logger
	// Now is the clock for event and telemetry time stamps; nil uses
	// time.Now. Only stamps: every time-out uses the monotonic clock, so a
	// jump of the wall clock does not stall or hurry a transfer.
	Now func() time.Time
}

// Event codes the uplink raises itself.
const (
	EventDiskAlarm   = "disk.full"    // the kiosk accepts no documents
	EventDiskWarning = "disk.warning" // free space is getting short
	EventDiskOK      = "disk.ok"      // back to normal
	// EventPacketStuck: a packet made no progress for StuckTries attempts
	// (detail: its packet id, nothing else).
	EventPacketStuck = "packet.stuck"
	// EventPacketMoving: a packet that was stuck left the spool.
	EventPacketMoving = "packet.unstuck"
)

// Stats are counters for telemetry.
type Stats struct {
	Delivered  int64
	Rejected   int64
	Dropped    int64 // incoming messages dropped because the queue was full
	ChunksSent int64
	Reconnects int64
	// MaxInFlight is the most chunk publishes seen unacknowledged at once
	// (at most Config.Window).
	MaxInFlight int64
	Connected   bool
	LastAttempt time.Time
}

// Uplink is the kiosk's MQTT connection.
type Uplink struct {
	cfg    Config
	client mqtt.Client
	kick   chan struct{}
	inbox  chan incoming
	online chan struct{} // closed and replaced on each connect
	mu     sync.Mutex

	delivered, rejected, dropped, chunks, reconnects, maxInFlight atomic.Int64
	connected                                                     atomic.Bool

	events    chan wire.Event      // alarms waiting to be published
	pending   []wire.Event         // taken from events, not yet published (eventLoop only)
	eventKick chan struct{}        // an event is queued, or the connection is back
	diskState string               // last disk state seen (Run only)
	stuck     map[string]*attempts // packets without progress, by id (Run only)
}

// attempts is the retry state of a packet that made no progress.
type attempts struct {
	tries   int
	next    time.Time // monotonic: not before this
	alarmed bool
}

type incoming struct {
	progress *wire.Progress
	receipt  *wire.Receipt
}

// New returns an Uplink; Run connects it.
func New(cfg Config) *Uplink {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Window <= 0 {
		cfg.Window = 32
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 15 * time.Second
	}
	if cfg.SettleTimeout <= 0 {
		cfg.SettleTimeout = min(3*time.Second, cfg.AnswerTimeout)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.DiskInterval <= 0 {
		cfg.DiskInterval = 10 * time.Second
	}
	if cfg.StuckBackoff <= 0 {
		cfg.StuckBackoff = 15 * time.Second
	}
	if cfg.MaxStuckBackoff <= 0 {
		cfg.MaxStuckBackoff = 10 * time.Minute
	}
	if cfg.StuckTries <= 0 {
		cfg.StuckTries = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &Uplink{cfg: cfg, kick: make(chan struct{}, 1), inbox: make(chan incoming, 256),
		online: make(chan struct{}), events: make(chan wire.Event, maxEvents), eventKick: make(chan struct{}, 1), diskState: spool.DiskOK}
	will, _ := json.Marshal(wire.Status{KioskID: cfg.KioskID, Online: false, Version: cfg.Version})
	opts := mqtt.NewClientOptions().
		SetClientID(cfg.KioskID).
		SetCleanSession(false). // persistent session: the broker keeps our receipts while we are away
		SetOrderMatters(false). // handlers run on their own; they never block the client
		SetAutoReconnect(false).
		SetConnectRetry(false). // Run reconnects, with back-off and jitter
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(30*time.Second).
		SetMaxResumePubInFlight(cfg.Window).
		SetBinaryWill(wire.StatusTopic(cfg.KioskID), will, 1, true).
		SetOnConnectHandler(u.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			u.connected.Store(false)
			u.cfg.Logger.Warn("uplink: connection lost", "err", err)
		})
	for _, b := range cfg.Brokers {
		opts.AddBroker(b)
	}
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	if cfg.Store != nil {
		opts.SetStore(cfg.Store)
	}
	u.client = mqtt.NewClient(opts)
	return u
}

func (u *Uplink) onConnect(c mqtt.Client) {
	u.connected.Store(true)
	u.reconnects.Add(1)
	// Subscriptions persist in the session, but the broker may have lost
	// it; subscribing again is harmless.
	c.Subscribe(wire.CentralPrefix(u.cfg.KioskID)+"/#", 1, u.onMessage)
	st, _ := json.Marshal(wire.Status{KioskID: u.cfg.KioskID, Online: true, Version: u.cfg.Version, Since: u.cfg.Now().UTC()})
	c.Publish(wire.StatusTopic(u.cfg.KioskID), 1, true, st)
	u.mu.Lock()
	close(u.online)
	u.online = make(chan struct{})
	u.mu.Unlock()
	u.Kick()
	u.kickEvents()
	if u.cfg.OnConnect != nil {
		go u.cfg.OnConnect()
	}
}

// onMessage verifies the central's messages and queues them; it never blocks.
func (u *Uplink) onMessage(_ mqtt.Client, m mqtt.Message) {
	var in incoming
	switch m.Topic() {
	case wire.ProgressTopic(u.cfg.KioskID):
		var p wire.Progress
		if err := wire.Verify(u.cfg.CentralKey, wire.TypeProgress, m.Payload(), &p); err != nil {
			u.cfg.Logger.Warn("uplink: progress rejected", "err", err)
			return
		}
		in.progress = &p
	case wire.ReceiptTopic(u.cfg.KioskID):
		var r wire.Receipt
		if err := wire.Verify(u.cfg.CentralKey, wire.TypeReceipt, m.Payload(), &r); err != nil {
			u.cfg.Logger.Warn("uplink: receipt rejected", "err", err)
			return
		}
		in.receipt = &r
	case wire.UpdateOfferTopic(u.cfg.KioskID):
		if u.cfg.OnUpdateOffer != nil {
			u.cfg.OnUpdateOffer(m.Payload())
		}
		return
	case wire.FetchReplyTopic(u.cfg.KioskID):
		if u.cfg.OnFetchReply != nil {
			u.cfg.OnFetchReply(m.Payload())
		}
		return
	case wire.CommandTopic(u.cfg.KioskID):
		if u.cfg.OnCommand != nil {
			u.cfg.OnCommand(m.Payload())
		}
		return
	case wire.StaffListTopic(u.cfg.KioskID):
		if u.cfg.OnStaffList != nil {
			u.cfg.OnStaffList(m.Payload())
		}
		return
	default:
		return
	}
	select {
	case u.inbox <- in:
	default:
		u.dropped.Add(1)
	}
}

// Kick tells the send loop that the spool has a new entry.
func (u *Uplink) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// maxEvents bounds the events waiting for a connection; more are dropped
// (and counted), as a kiosk offline for long must not fill its memory.
const maxEvents = 64

// Alarm queues an alarm event (code as wire.Event.Code, detail without
// personal data) for publication; it never blocks. Use it as the spool's
// Options.Alarm.
func (u *Uplink) Alarm(code, detail string) {
	u.event(wire.SeverityAlarm, code, detail)
}

// Notice queues an informational event (service mode opened, scanner
// plugged in); like Alarm it never blocks.
func (u *Uplink) Notice(code, detail string) {
	u.event(wire.SeverityInfo, code, detail)
}

func (u *Uplink) event(severity, code, detail string) {
	e := wire.Event{KioskID: u.cfg.KioskID, Time: u.cfg.Now().UTC(), Severity: severity, Code: code, Detail: detail}
	select {
	case u.events <- e:
		u.kickEvents()
	default:
		u.dropped.Add(1)
	}
}

// kickEvents wakes the event loop.
func (u *Uplink) kickEvents() {
	select {
	case u.eventKick <- struct{}{}:
	default:
	}
}

// eventLoop publishes events as they are queued, beside the send loop: an
// alarm or an audit event does not wait behind a packet's offer for the
// central's answer. While offline they stay queued; the connection coming
// back wakes it, and it looks again every eventRetry.
func (u *Uplink) eventLoop(ctx context.Context) {
	t := time.NewTicker(eventRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.eventKick:
		case <-t.C:
		}
		u.flushEvents()
	}
}

// eventRetry is how often queued events are tried again while a publish
// fails.
const eventRetry = time.Second

// flushEvents publishes queued events; what fails stays queued. Only
// eventLoop calls it.
func (u *Uplink) flushEvents() {
	for {
		select {
		case e := <-u.events:
			u.pending = append(u.pending, e)
			continue
		default:
		}
		break
	}
	for len(u.pending) > 0 {
		if err := u.Publish(wire.EventTopic(u.cfg.KioskID), u.pending[0], false); err != nil {
			if len(u.pending) > maxEvents {
				u.pending = u.pending[len(u.pending)-maxEvents:]
			}
			return
		}
		u.pending = u.pending[1:]
	}
}

// checkDisk raises an event when the spool's disk state changed.
func (u *Uplink) checkDisk() {
	st := u.cfg.Spool.Usage().State
	if st == u.diskState {
		return
	}
	u.diskState = st
	switch st {
	case spool.DiskAlarm:
		u.event(wire.SeverityAlarm, EventDiskAlarm, "spool disk budget exhausted: the kiosk refuses new documents")
	case spool.DiskWarning:
		u.event(wire.SeverityInfo, EventDiskWarning, "spool disk space low")
	default:
		u.event(wire.SeverityInfo, EventDiskOK, "spool disk space back to normal")
	}
}

// Telemetry returns the kiosk's uplink counters and its spool's usage and
// disk state; the caller adds what it knows (visits, pages, temperature).
func (u *Uplink) Telemetry() wire.Telemetry {
	us := u.cfg.Spool.Usage()
	return wire.Telemetry{KioskID: u.cfg.KioskID, Time: u.cfg.Now().UTC(), SpoolEntries: us.Entries,
		SpoolBytes: us.Bytes, DiskFree: us.Free, DiskState: us.State, Quarantined: us.Quarantined,
		Sent: u.delivered.Load()}
}

// Connected reports whether the MQTT connection is up.
func (u *Uplink) Connected() bool { return u.connected.Load() }

// Stats returns the counters.
func (u *Uplink) Stats() Stats {
	return Stats{Delivered: u.delivered.Load(), Rejected: u.rejected.Load(), Dropped: u.dropped.Load(),
		ChunksSent: u.chunks.Load(), Reconnects: u.reconnects.Load(), MaxInFlight: u.maxInFlight.Load(),
		Connected: u.connected.Load()}
}

// Publish sends a kiosk message (telemetry, event) under the kiosk's own
// topics at QoS 1. It fails at once when not connected.
func (u *Uplink) Publish(topic string, v any, retained bool) error {
	if !u.connected.Load() {
		return ErrNotOnline
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return u.PublishSigned(topic, b, retained)
}

// PublishSigned sends an already signed (or otherwise encoded) message
// under the kiosk's own topics at QoS 1, as Publish does.
func (u *Uplink) PublishSigned(topic string, payload []byte, retained bool) error {
	if !u.connected.Load() {
		return ErrNotOnline
	}
	t := u.client.Publish(topic, 1, retained, payload)
	if !t.WaitTimeout(u.cfg.AnswerTimeout) {
		return ErrTimeout
	}
	return t.Error()
}

// Run connects and sends the spool until ctx is done. On return it
// publishes the offline status and disconnects cleanly.
func (u *Uplink) Run(ctx context.Context) error {
	backoff := u.cfg.MinBackoff
	evCtx, stopEvents := context.WithCancel(ctx)
	evDone := make(chan struct{})
	go func() { u.eventLoop(evCtx); close(evDone) }()
	defer func() { stopEvents(); <-evDone }()
	defer func() {
		if u.client.IsConnectionOpen() {
			st, _ := json.Marshal(wire.Status{KioskID: u.cfg.KioskID, Online: false, Version: u.cfg.Version, Since: u.cfg.Now().UTC()})
			u.client.Publish(wire.StatusTopic(u.cfg.KioskID), 1, true, st).WaitTimeout(2 * time.Second)
		}
		u.client.Disconnect(250)
		u.connected.Store(false)
	}()
	for ctx.Err() == nil {
		if !u.client.IsConnectionOpen() {
			t := u.client.Connect()
			if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
				u.cfg.Logger.Warn("uplink: connect failed", "err", t.Error(), "retry_in", backoff)
				if !sleep(ctx, jitter(backoff)) {
					break
				}
				backoff = min(2*backoff, u.cfg.MaxBackoff)
				continue
			}
			backoff = u.cfg.MinBackoff
		}
		u.checkDisk()
		retry, err := u.drain(ctx)
		if err == nil {
			// Spool empty (or only packets waiting for their retry): wait
			// for a new entry or event, check the disk now and then, and
			// look at the spool again every 30 s in case the central's
			// answer was lost, or when the next retry is due.
			idle := time.NewTimer(min(30*time.Second, max(retry, 10*time.Millisecond)))
			disk := time.NewTicker(u.cfg.DiskInterval)
		wait:
			for {
				select {
				case <-ctx.Done():
					break wait
				case <-u.kick:
					break wait
				case <-idle.C:
					break wait
				case <-disk.C:
					u.checkDisk()
				}
			}
			idle.Stop()
			disk.Stop()
			continue
		}
		if ctx.Err() != nil {
			break
		}
		u.cfg.Logger.Warn("uplink: send interrupted", "err", err, "retry_in", backoff)
		if !sleep(ctx, jitter(backoff)) {
			break
		}
		backoff = min(2*backoff, u.cfg.MaxBackoff)
	}
	return ctx.Err()
}

// stuckPerDrain bounds the stuck packets one drain retries.
const stuckPerDrain = 2

// drain sends every spool entry that is due, new ones first. A packet that
// makes no progress is put back for a later retry (with back-off, and an
// alarm after StuckTries) and the next one is sent: one stuck document
// holds up no other. Only a fault of the connection ends the drain early.
// It returns how long until the next retry is due (a long time if none).
func (u *Uplink) drain(ctx context.Context) (time.Duration, error) {
	entries, listErr := u.cfg.Spool.List()
	if listErr != nil && !errors.Is(listErr, spool.ErrUnreadable) {
		return 0, listErr
	}
	if u.stuck == nil {
		u.stuck = map[string]*attempts{}
	}
	next := time.Hour
	listed := map[string]bool{}
	// progressed: a packet left the queue in this drain. silent counts the
	// packets in a row the central did not answer: two, with no progress
	// yet, look like the central (or the link) rather than the packets,
	// and the drain ends for the caller's back-off.
	progressed, silent := false, 0
	// New packets go first, oldest first; then at most stuckPerDrain of
	// the stuck ones whose retry is due (the rest on the next drain, at
	// once), so a new document waits behind no more than that.
	var fresh, due []spool.Entry
	for _, e := range entries {
		id := e.Manifest.PacketID
		listed[id] = true
		switch a := u.stuck[id]; {
		case a == nil:
			fresh = append(fresh, e)
		case time.Until(a.next) > 0:
			next = min(next, time.Until(a.next))
		case len(due) < stuckPerDrain:
			due = append(due, e)
		default:
			next = 0
		}
	}
	for _, e := range append(fresh, due...) {
		id := e.Manifest.PacketID
		a := u.stuck[id]
		err := u.send(ctx, e)
		switch {
		case err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrBadReceipt):
			// Delivered, or quarantined: either way it left the queue.
			progressed, silent = true, 0
			if a != nil {
				delete(u.stuck, id)
				if a.alarmed {
					u.Notice(EventPacketMoving, id)
				}
			}
			if err == nil {
				// The central answers: what waited for it goes again now.
				for _, o := range u.stuck {
					if !o.alarmed {
						o.next = time.Now()
						next = 0
					}
				}
			}
		case errors.Is(err, ErrNoProgress) && ctx.Err() == nil:
			if a == nil {
				a = &attempts{}
				u.stuck[id] = a
			}
			a.tries++
			backoff := u.cfg.StuckBackoff << min(a.tries-1, 20)
			backoff = min(backoff, u.cfg.MaxStuckBackoff)
			a.next = time.Now().Add(jitter(backoff))
			next = min(next, time.Until(a.next))
			u.cfg.Logger.Warn("uplink: packet made no progress, retrying later", "packet", id, "tries", a.tries, "retry_in", backoff)
			if a.tries >= u.cfg.StuckTries && !a.alarmed {
				a.alarmed = true
				u.Alarm(EventPacketStuck, id)
			}
			if silent++; silent >= 2 && !progressed {
				return 0, err
			}
		default:
			return 0, err
		}
	}
	if listErr != nil {
		// Some entries could not be read just now: the caller retries
		// soon, with back-off.
		return 0, listErr
	}
	for id := range u.stuck {
		if !listed[id] {
			delete(u.stuck, id) // left the spool another way
		}
	}
	return next, nil
}

// send offers one packet, sends what the central misses, and waits for the
// receipt; bounded rounds, each bounded in time.
func (u *Uplink) send(ctx context.Context, e spool.Entry) error {
	m := e.Manifest
	f, err := u.cfg.Spool.Open(m.PacketID)
	if err != nil {
		return err
	}
	defer f.Close()
	offer, err := u.offer(e)
	if err != nil {
		return err
	}
	for round := 0; round < 8; round++ {
		if err := u.publish(ctx, wire.OfferTopic(m.KioskID, m.PacketID), offer); err != nil {
			return err
		}
		in, err := u.await(ctx, m.PacketID)
		if errors.Is(err, ErrTimeout) {
			// The broker took the offer; the central said nothing.
			return fmt.Errorf("%w: %w", ErrNoProgress, err)
		}
		if err != nil {
			return err
		}
		if in.receipt != nil {
			return u.settle(m, in.receipt)
		}
		if err := u.sendChunks(ctx, f, m, in.progress.Missing); err != nil {
			return err
		}
		// After the last chunk the central files and sends the receipt, or
		// (if chunks were lost, say in a broker restart) nothing: then the
		// next offer asks again, soon, rather than after a full time-out.
		in, err = u.awaitFor(ctx, m.PacketID, u.cfg.SettleTimeout)
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		if in.receipt != nil {
			return u.settle(m, in.receipt)
		}
	}
	return fmt.Errorf("%w: %w: packet not complete after 8 rounds", ErrNoProgress, ErrTimeout)
}

// offer is the signed manifest to offer for e: as it was kept, or signed
// anew with the current device key if an earlier key signed it.
func (u *Uplink) offer(e spool.Entry) ([]byte, error) {
	if u.cfg.DeviceKey == nil {
		return e.Signed, nil
	}
	k := u.cfg.DeviceKey()
	if k == nil {
		return e.Signed, nil
	}
	var m wire.Manifest
	if wire.Verify(k.Public().(ed25519.PublicKey), wire.TypeManifest, e.Signed, &m) == nil && m == e.Manifest {
		return e.Signed, nil
	}
	signed, err := wire.Sign(k, wire.TypeManifest, e.Manifest)
	if err != nil {
		return nil, fmt.Errorf("uplink: sign the manifest with the current key: %w", err)
	}
	return signed, nil
}

// await waits for the central's next message about packetID.
func (u *Uplink) await(ctx context.Context, packetID string) (incoming, error) {
	return u.awaitFor(ctx, packetID, u.cfg.AnswerTimeout)
}

func (u *Uplink) awaitFor(ctx context.Context, packetID string, d time.Duration) (incoming, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return incoming{}, ctx.Err()
		case <-t.C:
			return incoming{}, ErrTimeout
		case in := <-u.inbox:
			if in.receipt != nil && in.receipt.PacketID == packetID ||
				in.progress != nil && in.progress.PacketID == packetID {
				return in, nil
			}
			if in.receipt != nil {
				// A late receipt for a packet we gave up waiting on: settle
				// it now if it is still spooled.
				if e, err := u.cfg.Spool.Get(in.receipt.PacketID); err == nil {
					u.settle(e.Manifest, in.receipt)
				}
			}
		}
	}
}

// settle acts on a verified receipt.
func (u *Uplink) settle(m wire.Manifest, r *wire.Receipt) error {
	if r.KioskID != m.KioskID || r.PacketID != m.PacketID || r.SHA256 != m.SHA256 {
		u.cfg.Spool.Quarantine(m.PacketID, "receipt does not match manifest")
		return ErrBadReceipt
	}
	if r.Status != wire.ReceiptFiled {
		u.rejected.Add(1)
		u.cfg.Spool.Quarantine(m.PacketID, "rejected by central: "+r.Reason)
		return fmt.Errorf("%w: %s", ErrRejected, r.Reason)
	}
	if err := u.cfg.Spool.Remove(m.PacketID); err != nil && !errors.Is(err, spool.ErrNotFound) {
		return err
	}
	u.delivered.Add(1)
	u.cfg.Logger.Info("uplink: packet delivered", "packet", m.PacketID)
	if u.cfg.OnDelivered != nil {
		u.cfg.OnDelivered(m.PacketID)
	}
	return nil
}

// sendChunks publishes the listed chunks with up to Window in flight.
//
// Chunk buffers are recycled once the broker acknowledged them, so memory
// stays at about Window chunks whatever the packet's size. A buffer whose
// publish failed is never reused: paho may still hold it to resend after a
// reconnect.
func (u *Uplink) sendChunks(ctx context.Context, f io.ReaderAt, m wire.Manifest, missing []int) error {
	type flight struct {
		tok mqtt.Token
		buf []byte
	}
	inflight := make([]flight, 0, u.cfg.Window)
	free := make([][]byte, 0, u.cfg.Window)
	wait := func(fl flight) error {
		select {
		case <-fl.tok.Done():
			if err := fl.tok.Error(); err != nil {
				return err
			}
			free = append(free, fl.buf[:cap(fl.buf)])
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(u.cfg.AnswerTimeout):
			return ErrTimeout
		}
	}
	for _, n := range missing {
		if n < 0 || n >= m.Chunks() {
			continue
		}
		if len(inflight) >= u.cfg.Window {
			if err := wait(inflight[0]); err != nil {
				return err
			}
			inflight = inflight[1:]
		}
		if !u.connected.Load() {
			return ErrNotOnline
		}
		size := wire.ChunkHashSize + m.ChunkLen(n)
		var buf []byte
		if k := len(free); k > 0 && cap(free[k-1]) >= size {
			buf, free = free[k-1][:size], free[:k-1]
		} else {
			buf = make([]byte, size, wire.ChunkHashSize+m.ChunkSize)
		}
		data := buf[wire.ChunkHashSize:]
		if _, err := f.ReadAt(data, int64(n)*int64(m.ChunkSize)); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("uplink: read spool: %w", err)
		}
		sum := sha256.Sum256(data)
		copy(buf, sum[:])
		inflight = append(inflight, flight{u.client.Publish(wire.ChunkTopic(m.KioskID, m.PacketID, n), 1, false, buf), buf})
		u.chunks.Add(1)
		if k := int64(len(inflight)); k > u.maxInFlight.Load() {
			u.maxInFlight.Store(k)
		}
	}
	for _, fl := range inflight {
		if err := wait(fl); err != nil {
			return err
		}
	}
	return nil
}

func (u *Uplink) publish(ctx context.Context, topic string, payload []byte) error {
	if !u.connected.Load() {
		return ErrNotOnline
	}
	t := u.client.Publish(topic, 1, false, payload)
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(u.cfg.AnswerTimeout):
		return ErrTimeout
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
