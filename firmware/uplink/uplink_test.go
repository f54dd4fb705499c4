package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/submit"
	"github.com/einwurf/einwurf/kiosk/ident"
	"github.com/einwurf/einwurf/kiosk/session"
)

const kioskID = "k-test"

type rig struct {
	dir      string
	central  *keys.Central
	kioskKey ed25519.PrivateKey
	reg      *keys.Register
	spool    *spool.Spool
	filed    chan ingest.Filed
	users    map[string]string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	c, err := keys.Generate(filepath.Join(dir, "central-keys"))
	if err != nil {
		t.Fatal(err)
	}
	kpub, ksk, _ := ed25519.GenerateKey(nil)
	reg := keys.OpenRegister(filepath.Join(dir, "central-keys", "kiosks.json"))
	if err := reg.Enrol(kioskID, kpub); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{dir: dir, central: c, kioskKey: ksk, reg: reg, spool: sp, filed: make(chan ingest.Filed, 16),
		users: map[string]string{broker.CentralUser: "c-secret", kioskID: "k-secret"}}
}

// startCentral runs ingest against brokerURL until the test ends.
func (r *rig) startCentral(t *testing.T, brokerURL string) {
	t.Helper()
	in, err := ingest.New(ingest.Config{StateDir: filepath.Join(r.dir, "central-state"),
		InboxDir: filepath.Join(r.dir, "inbox"), Identity: r.central.Identity, SignKey: r.central.SignKey,
		Kiosks: r.reg, OnFiled: func(f ingest.Filed) { r.filed <- f }})
	if err != nil {
		t.Fatal(err)
	}
	cl := ingest.NewClient(ingest.ClientOptions{Brokers: []string{brokerURL}, ClientID: "ingest-1",
		Username: broker.CentralUser, Password: "c-secret"})
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("central connect: %v", tok.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ingest.Serve(ctx, cl, in, "ingest", 4); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cl.Disconnect(100) })
}

func (r *rig) uplink(brokerURL string) *Uplink {
	return New(Config{Brokers: []string{brokerURL}, KioskID: kioskID, Username: kioskID, Password: "k-secret",
		CentralKey: r.central.SignKey.Public().(ed25519.PublicKey), Spool: r.spool,
		AnswerTimeout: 5 * time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
}

// submit seals a fake PDF of size bytes into the spool.
func (r *rig) submit(t *testing.T, size int) (session.Receipt, []byte) {
	t.Helper()
	pdf := make([]byte, size)
	for i := range pdf {
		pdf[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	os.WriteFile(path, pdf, 0o600)
	n, _ := ident.Parse("035F083761")
	s := &submit.Sealer{KioskID: kioskID, Key: r.kioskKey, Recipient: r.central.Identity.Recipient(), Spool: r.spool}
	rc, err := s.Submit(context.Background(), session.Document{Number: n, PDF: path, Pages: 3,
		Size: int64(size), SHA256: sha256.Sum256(pdf), Scanned: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return rc, pdf
}

func waitFiled(t *testing.T, r *rig, want []byte) ingest.Filed {
	t.Helper()
	select {
	case f := <-r.filed:
		got, err := os.ReadFile(f.PDF)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("filed PDF differs (%d bytes, %v)", len(got), err)
		}
		return f
	case <-time.After(30 * time.Second):
		t.Fatal("nothing filed within 30s")
	}
	return ingest.Filed{}
}

func waitEmpty(t *testing.T, sp *spool.Spool) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if es, _ := sp.List(); len(es) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("spool not emptied after receipt")
}

func TestDeliverChunkedPacket(t *testing.T) {
	r := newRig(t)
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Users: r.users})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r.startCentral(t, b.URL())
	rc, pdf := r.submit(t, 3*1024*1024+17) // 13 chunks, larger than the 1 MiB message limit
	u := r.uplink(b.URL())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	f := waitFiled(t, r, pdf)
	if f.PacketID != rc.PacketID {
		t.Fatalf("filed packet %s, submitted %s", f.PacketID, rc.PacketID)
	}
	waitEmpty(t, r.spool)
	if s := u.Stats(); s.Delivered != 1 || s.ChunksSent < 13 {
		t.Fatalf("stats %+v", s)
	}
	cancel()
	<-done
}

func TestBrokerDownThenBack(t *testing.T) {
	r := newRig(t)
	// No broker yet, but its port is held: connections are accepted and
	// closed at once (nothing there speaks MQTT). A port picked, let go
	// and bound only later could be taken by another test in between.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	addr := hold.Addr().String()
	go func() {
		for {
			c, err := hold.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, pdf := r.submit(t, 100_000)
	u := r.uplink("tcp://" + addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	// No broker: the packet stays in the spool.
	time.Sleep(700 * time.Millisecond)
	if es, _ := r.spool.List(); len(es) != 1 || u.Connected() {
		t.Fatalf("spool %d entries, connected %v", len(es), u.Connected())
	}
	hold.Close()
	b, err := broker.Start(broker.Options{Addr: addr, Users: r.users})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r.startCentral(t, b.URL())
	waitFiled(t, r, pdf)
	waitEmpty(t, r.spool)
	cancel()
	<-done
}
