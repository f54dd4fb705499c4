package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/store/postgres"
	"github.com/einwurf/einwurf/central/store/postgres/pgtest"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// helperEnv names the configuration file of a helper ingest process.
const helperEnv = "EINWURF_INGEST_PROCESS"

// procConfig is what a helper ingest process is told.
type procConfig struct {
	DSN, Broker, CA, Cert, Key string
	Keys, State, Inbox         string
	ClientID                   string
	// Victim is a file: the first process to reach the moment between
	// filing and recording creates it, writes its pid and the packet, and
	// stops there until it is killed.
	Victim string
	Lease  time.Duration
}

// TestIngestProcess is the body of a helper process (it runs only when
// started by TestExactlyOnceTwoProcesses): a real ingest process on the
// shared PostgreSQL ledger, receiving through the shared subscription.
func TestIngestProcess(t *testing.T) {
	var c procConfig
	ctx := testtool.HelperProcess(t, helperEnv, "TestExactlyOnceTwoProcesses", &c)
	st, err := postgres.Open(ctx, c.DSN, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := keys.Load(c.Keys)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(Config{StateDir: c.State, InboxDir: c.Inbox, Identity: k.Identity, SignKey: k.SignKey,
		Kiosks: keys.OpenRegister(filepath.Join(c.Keys, "kiosks.json")), Ledger: st, Owner: c.ClientID, Lease: c.Lease})
	if err != nil {
		t.Fatal(err)
	}
	in.beforeRecord = func(kioskID, packetID string) {
		f, err := os.OpenFile(c.Victim, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return // someone was the victim already
		}
		fmt.Fprintf(f, "%d %s %s\n", os.Getpid(), kioskID, packetID)
		f.Close()
		select {} // filed into the inbox, not recorded: killed here
	}
	tlsc, err := mosquittotest.LoadClientTLS(c.CA, c.Cert, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	err = Run(ctx, ClientOptions{Brokers: []string{c.Broker}, ClientID: c.ClientID, TLS: tlsc}, in, "ingest", 4)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestExactlyOnceTwoProcesses: two ingest processes share one PostgreSQL
// ledger, one state folder and a shared subscription on a real mosquitto
// (TLS, the production ACL); kiosks send packets whose chunks the broker
// splits between the processes. The first process to file a packet is
// killed after the PDF is in the inbox and before the ledger knows it.
// Every packet is still filed exactly once: one receipt status, one PDF,
// one ledger record; the killed process's packet is filed by the other
// once the claim's lease has run out.
func TestExactlyOnceTwoProcesses(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("inside a helper")
	}
	dir := t.TempDir()
	pki, broker := mosquittotest.StartTest(t, dir)
	pg := pgtest.Start(t, pgtest.Options{})
	dsn := pg.NewDatabase(t)

	keyDir := filepath.Join(dir, "keys")
	central, err := keys.Generate(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := pki.Issue(mosquittotest.CentralUser, false)
	if err != nil {
		t.Fatal(err)
	}
	kiosks := []string{"k-a", "k-b"}
	kioskKeys := map[string]ed25519.PrivateKey{}
	for _, id := range kiosks {
		pub, priv, _ := ed25519.GenerateKey(nil)
		kioskKeys[id] = priv
		if err := broker.Enrol(id); err != nil {
			t.Fatal(err)
		}
		if err := keys.OpenRegister(filepath.Join(keyDir, "kiosks.json")).Enrol(id, pub); err != nil {
			t.Fatal(err)
		}
	}
	cfg := procConfig{DSN: dsn, Broker: broker.CentralURL(), CA: pki.CAFile, Cert: certFile, Key: keyFile, Keys: keyDir,
		State: filepath.Join(dir, "state"), Inbox: filepath.Join(dir, "inbox"), Victim: filepath.Join(dir, "victim"),
		Lease: 3 * time.Second}
	// The processes, by pid; a killed one is restarted (as systemd would)
	// after twice the lease, with the same client id, so the broker's
	// persistent session (with what the shared subscription queued for
	// it meanwhile) is picked up.
	var mu sync.Mutex
	procs := map[int]*exec.Cmd{}
	exited := map[int]chan error{}
	ids := map[int]string{}
	start := func(id string) {
		c := cfg
		c.ClientID = id
		b, _ := json.Marshal(c)
		path := filepath.Join(dir, id+".json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Error(err)
			return
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestIngestProcess$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		logf, err := os.OpenFile(filepath.Join(dir, id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Error(err)
			return
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Error(err)
			return
		}
		ch := make(chan error, 1)
		go func() { ch <- cmd.Wait(); logf.Close() }()
		mu.Lock()
		procs[cmd.Process.Pid], exited[cmd.Process.Pid], ids[cmd.Process.Pid] = cmd, ch, id
		mu.Unlock()
	}
	start("ingest-1")
	start("ingest-2")
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for pid, cmd := range procs {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited[pid]:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
			}
		}
		if t.Failed() {
			for i := 1; i <= 2; i++ {
				b, _ := os.ReadFile(filepath.Join(dir, "ingest-"+strconv.Itoa(i)+".log"))
				t.Logf("ingest-%d:\n%s", i, tail(string(b), 3000))
			}
		}
	}()

	// The packets, sealed to the central as a kiosk seals them.
	f := &fixture{central: central.Identity, centralPK: central.SignKey.Public().(ed25519.PublicKey)}
	type job struct {
		kiosk string
		p     sealedPacket
	}
	var jobs []job
	for _, id := range kiosks {
		f.kioskKey = kioskKeys[id]
		for i := 0; i < 3; i++ {
			p := f.seal(t, id, id, "", 200<<10) // 4 chunks of 64 KiB
			jobs = append(jobs, job{id, p})
		}
	}

	// The victim is killed as soon as it stops between filing and recording.
	killed := make(chan string, 1)
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			b, err := os.ReadFile(cfg.Victim)
			if fields := strings.Fields(string(b)); err == nil && len(fields) == 3 {
				pid, _ := strconv.Atoi(fields[0])
				mu.Lock()
				cmd, ok := procs[pid]
				ch, id := exited[pid], ids[pid]
				delete(procs, pid)
				mu.Unlock()
				if ok {
					cmd.Process.Kill()
					<-ch
					time.AfterFunc(2*cfg.Lease, func() { start(id) })
					if n := countPDFs(t, cfg.Inbox)[fields[2]]; n != 1 {
						t.Errorf("the victim was killed with %d PDFs of its packet in the inbox, want 1 (mid-filing)", n)
					}
					killed <- fields[2]
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(killed)
	}()

	// The kiosks: offer, send what the progress asks for, offer again when
	// nothing comes, until the receipt.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var rmu sync.Mutex
	got := map[string]wire.Receipt{}
	raw := map[string]map[string]bool{} // packet → distinct receipts the kiosks were sent
	seen := func(r wire.Receipt, b []byte) {
		rmu.Lock()
		defer rmu.Unlock()
		if _, ok := got[r.PacketID]; !ok {
			got[r.PacketID] = r
			raw[r.PacketID] = map[string]bool{}
		}
		raw[r.PacketID][string(b)] = true
	}
	for _, id := range kiosks {
		tlsc, err := pki.ClientTLS(id)
		if err != nil {
			t.Fatal(err)
		}
		var mine []sealedPacket
		for _, j := range jobs {
			if j.kiosk == id {
				mine = append(mine, j.p)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := testKiosk(ctx, broker.URL(), id, tlsc, f.centralPK, mine, seen); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	victimPacket, ok := <-killed
	if !ok || victimPacket == "" {
		t.Fatal("no process was killed mid-filing")
	}
	rmu.Lock()
	defer rmu.Unlock()
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pdfs := countPDFs(t, cfg.Inbox)
	for _, j := range jobs {
		r, ok := got[j.p.m.PacketID]
		if !ok || r.Status != wire.ReceiptFiled {
			t.Errorf("packet %s: receipt %+v", j.p.m.PacketID, r)
		}
		if n := pdfs[j.p.m.PacketID]; n != 1 {
			t.Errorf("packet %s is %d times in the inbox, want once", j.p.m.PacketID, n)
		}
		rec, err := st.Lookup(context.Background(), j.kiosk, j.p.m.PacketID)
		if err != nil || rec.Status != wire.ReceiptFiled || !rec.Received.Equal(r.Received) {
			t.Errorf("packet %s: ledger %+v %v, receipt received %v", j.p.m.PacketID, rec, err, r.Received)
		}
		// Filed once: every receipt any process sent for it is the one
		// the ledger holds (a second filing would sign another).
		if len(raw[j.p.m.PacketID]) != 1 || !raw[j.p.m.PacketID][string(rec.Receipt)] {
			t.Errorf("packet %s: %d distinct receipts sent, the ledger's among them: %v", j.p.m.PacketID,
				len(raw[j.p.m.PacketID]), raw[j.p.m.PacketID][string(rec.Receipt)])
		}
	}
	if _, ok := got[victimPacket]; !ok {
		t.Errorf("the killed process's packet %s was not filed by the other", victimPacket)
	}
	t.Logf("%d packets filed once each by two processes; the one killed mid-filing held %s", len(got), victimPacket)
}

// countPDFs counts the PDFs in the inbox by packet id (the name's end).
func countPDFs(t *testing.T, inbox string) map[string]int {
	t.Helper()
	n := map[string]int{}
	filepath.WalkDir(inbox, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".pdf") {
			base := strings.TrimSuffix(filepath.Base(path), ".pdf")
			if i := strings.LastIndexByte(base, '_'); i >= 0 {
				n[base[i+1:]]++
			}
		}
		return nil
	})
	return n
}

// testKiosk delivers packets as the uplink does: offer; the chunks the
// central's progress lists; the offer again after 2 s of silence; done on
// a receipt signed by the central. Every receipt it gets is passed to seen.
func testKiosk(ctx context.Context, url, id string, tlsc *tls.Config, central ed25519.PublicKey, packets []sealedPacket,
	seen func(wire.Receipt, []byte)) error {
	type event struct {
		topic   string
		payload []byte
	}
	events := make(chan event, 64)
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetTLSConfig(tlsc).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond)
	c := mqtt.NewClient(opts)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("kiosk %s: connect: %v", id, t.Error())
	}
	defer c.Disconnect(100)
	if t := c.Subscribe(wire.CentralPrefix(id)+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		events <- event{m.Topic(), append([]byte(nil), m.Payload()...)}
	}); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("kiosk %s: subscribe: %v", id, t.Error())
	}
	pub := func(topic string, b []byte) {
		c.Publish(topic, 1, false, b).WaitTimeout(10 * time.Second)
	}
	byID := map[string]sealedPacket{}
	for _, p := range packets {
		byID[p.m.PacketID] = p
		pub(wire.OfferTopic(id, p.m.PacketID), p.offer)
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for len(byID) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("kiosk %s: %d packets without a receipt", id, len(byID))
		case <-tick.C:
			for _, p := range byID {
				pub(wire.OfferTopic(id, p.m.PacketID), p.offer)
			}
		case e := <-events:
			switch e.topic {
			case wire.ProgressTopic(id):
				var pr wire.Progress
				if err := wire.Verify(central, wire.TypeProgress, e.payload, &pr); err != nil {
					return err
				}
				if p, ok := byID[pr.PacketID]; ok {
					for _, n := range pr.Missing {
						pub(wire.ChunkTopic(id, p.m.PacketID, n), p.chunk(n))
					}
				}
			case wire.ReceiptTopic(id):
				var r wire.Receipt
				if err := wire.Verify(central, wire.TypeReceipt, e.payload, &r); err != nil {
					return err
				}
				seen(r, e.payload)
				delete(byID, r.PacketID)
			}
		}
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
