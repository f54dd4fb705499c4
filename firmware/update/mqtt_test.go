package update_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/release"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/tuf"
	"github.com/einwurf/einwurf/wire"
)

// mqttRig is the documented broker (mosquitto with the dynamic-security
// ACLs) on loopback, the central's release repository answering chunk
// requests on it, and kiosks' connections.
type mqttRig struct {
	tb     testing.TB
	dir    string
	pki    *mosquittotest.PKI
	broker *mosquittotest.Broker
	repo   release.Repo
	// tamper, when set, may change a reply's payload on its way out.
	tamper  atomic.Pointer[func(req []byte, reply []byte) []byte]
	handled atomic.Int64 // requests the central answered
	sent    atomic.Int64 // reply bytes the central sent
	central mqtt.Client
}

func newMQTTRig(tb testing.TB, kiosks ...string) *mqttRig {
	mosquittotest.Need(tb)
	r := &mqttRig{tb: tb, dir: tb.TempDir()}
	var err error
	if r.pki, err = mosquittotest.NewPKI(filepath.Join(r.dir, "pki")); err != nil {
		tb.Fatal(err)
	}
	if r.broker, err = mosquittotest.Start(mosquittotest.Options{Dir: filepath.Join(r.dir, "broker"), PKI: r.pki}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.broker.Stop)
	for _, k := range kiosks {
		if err := r.broker.Enrol(k); err != nil {
			tb.Fatal(err)
		}
	}
	r.repo = release.Repo{Dir: filepath.Join(r.dir, "tuf"), Keys: filepath.Join(r.dir, "tuf-keys")}
	if err := r.repo.Init(3, 2); err != nil {
		tb.Fatal(err)
	}
	// The central's release server on the broker.
	tc, err := r.pki.ClientTLS(mosquittotest.CentralUser)
	if err != nil {
		tb.Fatal(err)
	}
	r.central = connect(tb, mqtt.NewClientOptions().AddBroker(r.broker.CentralURL()).SetClientID("release-fetch").SetTLSConfig(tc))
	fs := release.FetchServer{Repo: r.repo, Publish: func(_ context.Context, topic string, payload []byte) error {
		r.sent.Add(int64(len(payload)))
		return r.central.Publish(topic, 0, false, payload).Error()
	}}
	tok := r.central.Subscribe(release.FetchFilter, 0, func(_ mqtt.Client, m mqtt.Message) {
		r.handled.Add(1)
		pub := fs.Publish
		if f := r.tamper.Load(); f != nil {
			pub = func(ctx context.Context, topic string, payload []byte) error {
				if p := (*f)(m.Payload(), payload); p != nil {
					return fs.Publish(ctx, topic, p)
				}
				return nil // dropped
			}
		}
		release.FetchServer{Repo: r.repo, Publish: pub}.Handle(context.Background(), m.Topic(), m.Payload())
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("subscribe: %v", tok.Error())
	}
	return r
}

func connect(tb testing.TB, o *mqtt.ClientOptions) mqtt.Client {
	c := mqtt.NewClient(o.SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		tb.Fatalf("connect: %v", tok.Error())
	}
	tb.Cleanup(func() { c.Disconnect(50) })
	return c
}

// kiosk connects as kiosk id and returns its MQTT source (its replies
// subscribed).
func (r *mqttRig) kiosk(id string) (*ota.MQTTSource, mqtt.Client) {
	tc, err := r.pki.ClientTLS(id)
	if err != nil {
		r.tb.Fatal(err)
	}
	c := connect(r.tb, mqtt.NewClientOptions().AddBroker(r.broker.URL()).SetClientID(id).SetTLSConfig(tc))
	src := &ota.MQTTSource{KioskID: id, Timeout: 5 * time.Second, Publish: func(topic string, payload []byte) error {
		t := c.Publish(topic, 1, false, payload)
		if !t.WaitTimeout(10 * time.Second) {
			return context.DeadlineExceeded
		}
		return t.Error()
	}}
	tok := c.Subscribe(wire.FetchReplyTopic(id), 0, func(_ mqtt.Client, m mqtt.Message) { src.Deliver(m.Payload()) })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		r.tb.Fatalf("subscribe: %v", tok.Error())
	}
	return src, c
}

// payloadBundle is a bundle of one program of n pseudo-random bytes.
func payloadBundle(tb testing.TB, version string, n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: ota.BundleVersion, Mode: 0o644, Size: int64(len(version)), Typeflag: tar.TypeReg})
	tw.Write([]byte(version))
	tw.WriteHeader(&tar.Header{Name: ota.BundleBinary, Mode: 0o755, Size: int64(n), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	return buf.Bytes()
}

// addTarget puts a bundle into the repository.
func (r *mqttRig) addTarget(name, version string, b []byte) {
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		r.tb.Fatal(err)
	}
	if err := r.repo.Add(name, p, version, ota.KindBundle); err != nil {
		r.tb.Fatal(err)
	}
}

var errRestarted = errors.New("restart into the switched slot")

// updater is a kiosk's update machine on fresh application slots (1.0 in
// slot a), fetching metadata from meta and payloads from src.
func updater(tb testing.TB, r *mqttRig, dir string, meta tuf.Fetcher, src ota.Source, hook ...func(string) error) *ota.Updater {
	fsys := durable.OS{}
	if _, err := os.Stat(filepath.Join(dir, "boot.env")); err != nil {
		if err := ota.InstallFactory(fsys, dir, payloadBundle(tb, "1.0", 1000, 99)); err != nil {
			tb.Fatal(err)
		}
		root, _ := r.repo.RootJSON()
		os.MkdirAll(filepath.Join(dir, "tuf"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, "tuf", "root.json"), root, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	tc, err := tuf.New(fsys, filepath.Join(dir, "tuf"), meta, time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	c := ota.Config{FS: fsys, Dir: dir, Slots: ota.AppSlots(fsys, dir), TUF: tc, Source: src,
		Booted: "a", Version: "1.0", Restart: func() error { return errRestarted }}
	if len(hook) > 0 {
		c.Hook = hook[0]
	}
	u, err := ota.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

var offer20 = wire.UpdateOffer{RolloutID: "r", Target: "einwurf-2.0.tar", Version: "2.0", Kind: ota.KindBundle}

// Delivery over the broker alone (the documented mosquitto with its ACLs):
// TUF metadata and payload come in chunks over MQTT; a chunk with one
// wrong byte is refused before it is written and nothing stays in the
// slot; a download cut mid-way resumes from the last verified block; the
// ACL lets no kiosk ask on another's topic nor read another's replies.
func TestDeliveryOverMQTT(t *testing.T) {
	r := newMQTTRig(t, "k-1", "k-2")
	payload := payloadBundle(t, "2.0", 3<<20, 1)
	r.addTarget("einwurf-2.0.tar", "2.0", payload)
	src, c1 := r.kiosk("k-1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("install", func(t *testing.T) {
		dir := t.TempDir()
		u := updater(t, r, dir, src, src)
		if err := u.Offer(ctx, offer20); !errors.Is(err, errRestarted) {
			t.Fatalf("offer: %v (state %+v)", err, u.State())
		}
		if st := u.State(); st.Phase != wire.UpdateSwitched {
			t.Fatalf("state %+v", st)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "b.img")); !bytes.Equal(got, payload) {
			t.Fatal("slot b does not hold the payload")
		}
		if u.Stats.Fetched != int64(len(payload)) {
			t.Fatalf("fetched %d of %d bytes", u.Stats.Fetched, len(payload))
		}
	})

	t.Run("one wrong byte", func(t *testing.T) {
		dir := t.TempDir()
		u := updater(t, r, dir, src, src)
		var once sync.Once
		f := func(req, reply []byte) []byte {
			if bytes.Contains(req, []byte(`"repo":"targets"`)) && bytes.Contains(req, []byte(`"off":524288`)) && len(reply) > 1000 {
				once.Do(func() { reply[len(reply)-100] ^= 1 })
			}
			return reply
		}
		r.tamper.Store(&f)
		defer r.tamper.Store(nil)
		err := u.Offer(ctx, offer20)
		if !errors.Is(err, ota.ErrRefused) || u.State().Reason != "payload-mismatch" {
			t.Fatalf("offer: %v (state %+v)", err, u.State())
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "b.img")); len(b) != 0 {
			t.Fatalf("slot b holds %d bytes after the refusal", len(b))
		}
		if env, _ := ota.AppSlots(durable.OS{}, dir).Read(); env.Slot != "a" || env.Trial {
			t.Fatalf("environment changed: %+v", env)
		}
	})

	t.Run("cut and resumed", func(t *testing.T) {
		dir := t.TempDir()
		// The broker path goes silent once 6 blocks of the payload are
		// written (the machine's hook counts them).
		var blocks atomic.Int64
		var cut atomic.Bool
		hook := func(phase string) error {
			if phase == "block" && blocks.Add(1) > 6 {
				cut.Store(true)
			}
			return nil
		}
		f := func(req, reply []byte) []byte {
			if cut.Load() {
				return nil
			}
			return reply
		}
		r.tamper.Store(&f)
		src.Timeout = 300 * time.Millisecond
		defer func() { src.Timeout = 5 * time.Second }()
		short := src
		u := updater(t, r, dir, short, short, hook)
		if err := u.Offer(ctx, offer20); !errors.Is(err, ota.ErrFetch) || u.State().Phase != wire.UpdateDownloading {
			t.Fatalf("cut: %v (state %+v)", err, u.State())
		}
		r.tamper.Store(nil)
		before := r.sent.Load()
		u = updater(t, r, dir, short, short)
		if err := u.Resume(ctx); !errors.Is(err, errRestarted) {
			t.Fatalf("resume: %v (state %+v)", err, u.State())
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "b.img")); !bytes.Equal(got, payload) {
			t.Fatal("slot b does not hold the payload after the resume")
		}
		// The verified blocks stayed: only the rest was sent again.
		if u.Stats.Kept < 6*wire.FetchMaxChunk || u.Stats.Fetched > int64(len(payload))-6*wire.FetchMaxChunk {
			t.Fatalf("resumed with %+v", u.Stats)
		}
		t.Logf("resumed: kept %d, fetched %d; the server sent %d bytes for it", u.Stats.Kept, u.Stats.Fetched, r.sent.Load()-before)
	})

	t.Run("acl", func(t *testing.T) {
		// k-1 listens on k-2's replies and asks on k-2's topic: the broker
		// delivers neither. k-2's own request is answered. The central
		// handles messages in order, so once k-1's allowed request is
		// answered its denied one would have been handled before.
		var stolen atomic.Int64
		c1.Subscribe(wire.FetchReplyTopic("k-2"), 0, func(mqtt.Client, mqtt.Message) { stolen.Add(1) }).WaitTimeout(10 * time.Second)
		src2, _ := r.kiosk("k-2")
		h0 := r.handled.Load()
		c1.Publish(wire.FetchRequestTopic("k-2"), 1, false, []byte(`{"id":1,"repo":"metadata","path":"root.json","off":0,"n":10}`)).WaitTimeout(10 * time.Second)
		if _, err := src.Fetch(ctx, "timestamp.json", 16<<10); err != nil {
			t.Fatal(err)
		}
		if n := r.handled.Load() - h0; n != 1 {
			t.Fatalf("the central handled %d requests, want k-1's own only", n)
		}
		if _, err := src2.Fetch(ctx, "timestamp.json", 16<<10); err != nil {
			t.Fatal(err)
		}
		// k-2's reply went out; a request of k-1's own came after it and was answered.
		if _, err := src.Fetch(ctx, "timestamp.json", 16<<10); err != nil {
			t.Fatal(err)
		}
		if stolen.Load() != 0 {
			t.Fatalf("k-1 received %d of k-2's replies", stolen.Load())
		}
	})
}

// BenchmarkInstallMQTTvsHTTP installs the same 20 MB bundle
// (EINWURF_BENCH_MQTT_MB sets another size), nothing to reuse, over HTTP Range from the release server and over MQTT chunks
// through mosquitto (TLS, ACLs) in the same run: seconds each and the
// ratio (mqtt-s/http-s; above 1 MQTT is slower).
func BenchmarkInstallMQTTvsHTTP(b *testing.B) {
	r := newMQTTRig(b, "k-1")
	size := 20
	if v := os.Getenv("EINWURF_BENCH_MQTT_MB"); v != "" {
		fmt.Sscan(v, &size)
	}
	payload := payloadBundle(b, "2.0", size<<20, 7)
	r.addTarget("einwurf-2.0.tar", "2.0", payload)
	src, _ := r.kiosk("k-1")
	if w := os.Getenv("EINWURF_BENCH_MQTT_WINDOW"); w != "" {
		fmt.Sscan(w, &src.Window)
	}
	srv := httptest.NewServer(r.repo.Handler())
	defer srv.Close()
	hmeta := tuf.HTTPFetcher{Base: srv.URL + "/tuf/metadata/"}
	hsrc := ota.HTTPSource{Base: srv.URL + "/tuf/targets/"}
	ctx := context.Background()
	install := func(meta tuf.Fetcher, s ota.Source) time.Duration {
		dir := b.TempDir()
		u := updater(b, r, dir, meta, s)
		t0 := time.Now()
		if err := u.Offer(ctx, offer20); !errors.Is(err, errRestarted) {
			b.Fatalf("offer: %v", err)
		}
		d := time.Since(t0)
		os.RemoveAll(dir)
		return d
	}
	// The heap's peak during the MQTT installs: the chunks asked ahead, not
	// the payload's size.
	var peak atomic.Uint64
	sample := func(stop chan struct{}, done chan struct{}) {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var th, tm time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		th += install(hmeta, hsrc)
		stop, done := make(chan struct{}), make(chan struct{})
		go sample(stop, done)
		tm += install(src, src)
		close(stop)
		<-done
	}
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), "mqtt-peak-heap-MB")
	n := float64(b.N)
	b.ReportMetric(th.Seconds()/n, "http-s")
	b.ReportMetric(tm.Seconds()/n, "mqtt-s")
	b.ReportMetric(tm.Seconds()/th.Seconds(), "mqtt/http")
	b.ReportMetric(float64(len(payload))/(tm.Seconds()/n)/1e6, "mqtt-MB/s")
}
