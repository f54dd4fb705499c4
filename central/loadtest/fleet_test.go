package loadtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/packet"
)

// fleetEnv names the configuration file of a fleet helper process.
const fleetEnv = "EINWURF_LOADTEST_FLEET"

// fleetConfig is what the fleet process simulates.
type fleetConfig struct {
	Broker   string
	CA       string
	CertDir  string // <kiosk>.pem and <kiosk>.key
	Kiosks   []string
	Sites    int
	Recip    string // the central's age recipient
	SignPub  []byte // the central's signing key
	Tele     time.Duration
	Event    time.Duration
	Packet   time.Duration // per kiosk; 0 sends none
	Packets  int           // per kiosk, then it stops sending packets (0: no bound)
	PageSize int
	Pages    int
	Ready    string // written when every kiosk is connected
	Result   string // written at the end
	Limit    time.Duration
	// StopAfter ends the run once this many receipts came (0: never).
	StopAfter int64
	// Retry is how long a kiosk waits for an answer before offering again
	// (default 10 s).
	Retry time.Duration
}

// fleetResult is what the fleet process measured.
type fleetResult struct {
	Connected  int
	Published  map[string]int64
	Receipts   int64
	Rejected   int64
	ReceiptP50 time.Duration
	ReceiptP99 time.Duration
	// Active is the time from every kiosk connected to the end.
	Active time.Duration
	Errors []string
}

// kioskKey is a simulated kiosk's device key, derived from its id so that
// the central's register and the fleet agree without files.
func kioskKey(id string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("einwurf loadtest " + id))
	return ed25519.NewKeyFromSeed(seed[:])
}

// registry is the central's register of the simulated kiosks.
type registry map[string]ed25519.PublicKey

func (r registry) Lookup(id string) (ed25519.PublicKey, error) {
	if k, ok := r[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("loadtest: kiosk %s not enrolled", id)
}

// Enrol is refused: the simulated fleet's keys are fixed (key rotation is
// not part of the load).
func (r registry) Enrol(id string, _ ed25519.PublicKey) error {
	return fmt.Errorf("loadtest: no enrolment of %s during the load", id)
}

func newRegistry(ids []string) registry {
	r := registry{}
	for _, id := range ids {
		r[id] = kioskKey(id).Public().(ed25519.PublicKey)
	}
	return r
}

// TestFleetProcess is the body of the fleet helper process (it runs only
// when a benchmark starts it): N kiosks, each with its own certificate and
// device key, publishing at real rates until SIGTERM or the limit.
func TestFleetProcess(t *testing.T) {
	var c fleetConfig
	ctx := testtool.HelperProcess(t, fleetEnv, "the load benchmarks", &c)
	ctx, cancel := context.WithTimeout(ctx, c.Limit)
	defer cancel()
	res := runFleet(ctx, c)
	out, _ := json.Marshal(res)
	if err := os.WriteFile(c.Result, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fleet is the shared state of the simulated kiosks.
type fleet struct {
	c         fleetConfig
	stop      context.CancelFunc
	recip     age.Recipient
	published sync.Map // kind → *atomic.Int64
	receipts  atomic.Int64
	rejected  atomic.Int64
	mu        sync.Mutex
	lat       []time.Duration
	errs      []string
}

func (f *fleet) count(kind string) {
	v, _ := f.published.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (f *fleet) fail(format string, a ...any) {
	f.mu.Lock()
	if len(f.errs) < 20 {
		f.errs = append(f.errs, fmt.Sprintf(format, a...))
	}
	f.mu.Unlock()
}

func runFleet(ctx context.Context, c fleetConfig) fleetResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.Retry <= 0 {
		c.Retry = 10 * time.Second
	}
	f := &fleet{c: c, stop: cancel}
	r, err := age.ParseHybridRecipient(c.Recip)
	if err != nil {
		return fleetResult{Errors: []string{err.Error()}}
	}
	f.recip = r
	// Connect every kiosk, 32 at a time.
	clients := make([]mqtt.Client, len(c.Kiosks))
	inbox := make([]chan mqtt.Message, len(c.Kiosks))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var connected atomic.Int64
	for i, id := range c.Kiosks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			inbox[i] = make(chan mqtt.Message, 16)
			cl, err := f.connect(id, inbox[i])
			if err != nil {
				f.fail("kiosk %s: %v", id, err)
				return
			}
			clients[i] = cl
			connected.Add(1)
		}()
	}
	wg.Wait()
	os.WriteFile(c.Ready, []byte("ready\n"), 0o600)
	active := time.Now()
	for i, id := range c.Kiosks {
		if clients[i] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.kiosk(ctx, id, i, clients[i], inbox[i])
		}()
	}
	wg.Wait()
	activeFor := time.Since(active)
	for _, cl := range clients {
		if cl != nil {
			cl.Disconnect(50)
		}
	}
	res := fleetResult{Connected: int(connected.Load()), Published: map[string]int64{}, Receipts: f.receipts.Load(),
		Rejected: f.rejected.Load(), Errors: f.errs, Active: activeFor}
	f.published.Range(func(k, v any) bool { res.Published[k.(string)] = v.(*atomic.Int64).Load(); return true })
	res.ReceiptP50, res.ReceiptP99 = percentile(f.lat, 0.50), percentile(f.lat, 0.99)
	return res
}

func (f *fleet) connect(id string, in chan mqtt.Message) (mqtt.Client, error) {
	tlsc, err := mosquittotest.LoadClientTLS(f.c.CA, filepath.Join(f.c.CertDir, id+".pem"), filepath.Join(f.c.CertDir, id+".key"))
	if err != nil {
		return nil, err
	}
	will, _ := json.Marshal(wire.Status{KioskID: id, Online: false})
	opts := mqtt.NewClientOptions().AddBroker(f.c.Broker).SetClientID(id).SetCleanSession(true).
		SetTLSConfig(tlsc).SetAutoReconnect(true).SetKeepAlive(60*time.Second).SetConnectTimeout(30*time.Second).
		SetBinaryWill(wire.StatusTopic(id), will, 1, true).SetOrderMatters(false)
	cl := mqtt.NewClient(opts)
	if t := cl.Connect(); !t.WaitTimeout(60*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("connect: %v", t.Error())
	}
	if t := cl.Subscribe(wire.CentralPrefix(id)+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case in <- m:
		default: // a kiosk reads its own answers promptly; drop if not
		}
	}); !t.WaitTimeout(30*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("subscribe: %v", t.Error())
	}
	return cl, nil
}

func (f *fleet) publish(cl mqtt.Client, kind, topic string, retained bool, b []byte) {
	t := cl.Publish(topic, 1, retained, b)
	if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
		f.fail("publish %s: %v", kind, t.Error())
		return
	}
	f.count(kind)
}

// kiosk runs one simulated kiosk: status and birth at the start, telemetry
// and events at their intervals (phase-shifted per kiosk), and packets of
// a few pages, each offered, sent as the central's progress asks, and
// done on its receipt.
func (f *fleet) kiosk(ctx context.Context, id string, n int, cl mqtt.Client, in chan mqtt.Message) {
	key := kioskKey(id)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	site := fmt.Sprintf("site-%02d", n%max(f.c.Sites, 1))
	now := time.Now().UTC()
	st, _ := json.Marshal(wire.Status{KioskID: id, Online: true, Version: "1.4.0", Since: now})
	f.publish(cl, "status", wire.StatusTopic(id), true, st)
	birth, _ := wire.Sign(key, wire.TypeBirth, wire.Birth{KioskID: id, Seq: uint64(now.UnixNano()), Version: "1.4.0", Slot: "a", Site: site, Time: now})
	f.publish(cl, "birth", wire.BirthTopic(id), false, birth)

	phase := func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }
	tele := time.NewTimer(phase(f.c.Tele))
	ev := time.NewTimer(phase(f.c.Event))
	pk := time.NewTimer(time.Hour)
	if f.c.Packet > 0 {
		pk.Reset(phase(f.c.Packet))
	}
	var sent, visits, pages int64
	packets := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tele.C:
			tm, _ := json.Marshal(wire.Telemetry{KioskID: id, Time: time.Now().UTC(), SpoolEntries: 0, DiskFree: 20 << 30,
				DiskState: "ok", Sent: sent, Visits: visits, Pages: pages, TempMilliC: 38000 + rng.IntN(4000), Scanner: "ready"})
			f.publish(cl, "telemetry", wire.TelemetryTopic(id), false, tm)
			tele.Reset(f.c.Tele)
		case <-ev.C:
			e, _ := json.Marshal(wire.Event{KioskID: id, Time: time.Now().UTC(), Severity: wire.SeverityInfo, Code: "scanner.ready"})
			f.publish(cl, "event", wire.EventTopic(id), false, e)
			ev.Reset(f.c.Event)
		case <-pk.C:
			if f.sendPacket(ctx, id, key, cl, in, rng) {
				sent++
			}
			visits++
			pages += int64(f.c.Pages)
			packets++
			if f.c.Packets == 0 || packets < f.c.Packets {
				pk.Reset(f.c.Packet)
			}
		case <-in:
			// A late answer to an earlier packet.
		}
	}
}

// sealPacket seals a document of a few pages for kiosk id as the kiosk's
// submitter does.
func sealPacket(recip age.Recipient, key ed25519.PrivateKey, id string, pages, pageSize int, rng *rand.Rand) (wire.Manifest, []byte, []byte, error) {
	pdf := make([]byte, pages*pageSize)
	for i := 0; i+8 <= len(pdf); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			pdf[i+j] = byte(v >> (8 * j))
		}
	}
	sum := sha256.Sum256(pdf)
	pid := packet.NewID()
	meta := packet.Meta{V: 1, PacketID: pid, KioskID: id, Number: "035F083761", Kind: wire.KindKundennummer,
		Team: wire.TeamPlacement, Scanned: time.Now().UTC(), Pages: pages, PDFSize: int64(len(pdf)), PDFSHA256: hex.EncodeToString(sum[:])}
	var ct bytes.Buffer
	s, err := packet.Seal(&ct, recip, meta, bytes.NewReader(pdf))
	if err != nil {
		return wire.Manifest{}, nil, nil, err
	}
	m := wire.Manifest{V: 1, PacketID: pid, KioskID: id, Created: time.Now().UTC(), Size: s.Size,
		SHA256: hex.EncodeToString(s.SHA256[:]), ChunkSize: wire.ChunkSize}
	offer, err := wire.Sign(key, wire.TypeManifest, m)
	return m, offer, ct.Bytes(), err
}

func chunkOf(m wire.Manifest, ct []byte, n int) []byte {
	data := ct[n*m.ChunkSize : n*m.ChunkSize+m.ChunkLen(n)]
	sum := sha256.Sum256(data)
	return append(sum[:], data...)
}

// sendPacket delivers one packet: offer, the chunks the progress lists,
// the offer again after Retry without a receipt, until one (at most 2 min).
func (f *fleet) sendPacket(ctx context.Context, id string, key ed25519.PrivateKey, cl mqtt.Client, in chan mqtt.Message, rng *rand.Rand) bool {
	m, offer, ct, err := sealPacket(f.recip, key, id, f.c.Pages, f.c.PageSize, rng)
	if err != nil {
		f.fail("seal: %v", err)
		return false
	}
	start := time.Now()
	f.publish(cl, "offer", wire.OfferTopic(id, m.PacketID), false, offer)
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	retry := time.NewTicker(f.c.Retry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			f.fail("packet of %s: no receipt in 2 min", id)
			return false
		case <-retry.C:
			f.publish(cl, "offer", wire.OfferTopic(id, m.PacketID), false, offer)
		case msg := <-in:
			switch msg.Topic() {
			case wire.ProgressTopic(id):
				var p wire.Progress
				if wire.Verify(f.c.SignPub, wire.TypeProgress, msg.Payload(), &p) != nil || p.PacketID != m.PacketID {
					continue
				}
				for _, n := range p.Missing {
					f.publish(cl, "chunk", wire.ChunkTopic(id, m.PacketID, n), false, chunkOf(m, ct, n))
				}
			case wire.ReceiptTopic(id):
				var r wire.Receipt
				if wire.Verify(f.c.SignPub, wire.TypeReceipt, msg.Payload(), &r) != nil || r.PacketID != m.PacketID {
					continue
				}
				if r.Status != wire.ReceiptFiled {
					f.rejected.Add(1)
					f.fail("packet of %s rejected: %s", id, r.Reason)
					return false
				}
				if n := f.receipts.Add(1); f.c.StopAfter > 0 && n >= f.c.StopAfter {
					f.stop()
				}
				f.mu.Lock()
				f.lat = append(f.lat, time.Since(start))
				f.mu.Unlock()
				return true
			}
		}
	}
}

// percentile of a set of durations (0 for none).
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)))
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}
