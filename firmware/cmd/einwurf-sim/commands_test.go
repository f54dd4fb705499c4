package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/firmware/command"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// waitUntil is testtool.WaitFor (kept for the tests that call it so).
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testtool.WaitFor(t, d, what, cond)
}

// answered waits for the kiosk's answer to command (kiosk, seq) in the
// audit log.
func answered(t *testing.T, st store.Store, kiosk string, seq uint64) store.CommandRecord {
	t.Helper()
	var rec store.CommandRecord
	testtool.WaitFor(t, 60*time.Second, "the kiosk's answer", func() bool {
		cs, err := st.Commands(context.Background(), kiosk, 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Seq == seq && c.Result != "" {
				rec = c
				return true
			}
		}
		return false
	})
	return rec
}

// commandWatch listens on the embedded broker as the central: the last
// command of each kind sent to the kiosk, as it crossed the broker, and the
// kiosk's results.
type commandWatch struct {
	t       *testing.T
	id      string
	cl      mqtt.Client
	mu      sync.Mutex
	cmds    map[string][]byte
	results []wire.CommandResult
}

func watchCommands(t *testing.T, s *simulation) *commandWatch {
	t.Helper()
	w := &commandWatch{t: t, id: s.app().KioskID, cmds: map[string][]byte{}}
	w.cl = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.broker.URL()).SetClientID("listener").
		SetUsername(broker.CentralUser).SetPassword(s.centralSecret))
	if tok := w.cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { w.cl.Disconnect(100) })
	w.cl.Subscribe(wire.CommandTopic(w.id), 1, func(_ mqtt.Client, msg mqtt.Message) {
		var sg wire.Signed
		var c wire.Command
		if json.Unmarshal(msg.Payload(), &sg) == nil && json.Unmarshal(sg.Body, &c) == nil {
			w.mu.Lock()
			w.cmds[c.Kind] = bytes.Clone(msg.Payload())
			w.mu.Unlock()
		}
	}).WaitTimeout(5 * time.Second)
	w.cl.Subscribe(wire.CommandResultTopic(w.id), 1, func(_ mqtt.Client, msg mqtt.Message) {
		var sg wire.Signed
		var r wire.CommandResult
		if json.Unmarshal(msg.Payload(), &sg) == nil && json.Unmarshal(sg.Body, &r) == nil {
			w.mu.Lock()
			w.results = append(w.results, r)
			w.mu.Unlock()
		}
	}).WaitTimeout(5 * time.Second)
	return w
}

// replay publishes the last command of kind again, as it crossed the
// broker, and waits for the kiosk's refusal as replayed.
func (w *commandWatch) replay(kind string) {
	w.t.Helper()
	w.mu.Lock()
	msg := w.cmds[kind]
	w.mu.Unlock()
	if msg == nil {
		w.t.Fatalf("no %s command seen on the broker", kind)
	}
	if tok := w.cl.Publish(wire.CommandTopic(w.id), 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		w.t.Fatal(tok.Error())
	}
	testtool.WaitFor(w.t, 20*time.Second, "the refusal of the replayed "+kind, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, r := range w.results {
			if r.Kind == kind && r.Status == wire.ResultRefused && r.Reason == wire.RefusedReplayed {
				return true
			}
		}
		return false
	})
}

type uiView struct {
	NotReady       string `json:"not_ready"`
	NotReadyReason string `json:"not_ready_reason"`
}

func kioskView(t *testing.T, base string) uiView {
	t.Helper()
	resp, err := http.Get(base + "api/view")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v uiView
	json.NewDecoder(resp.Body).Decode(&v)
	return v
}

// TestCentralCommandsReachTheKiosk runs the simulated appliance with its
// dashboard: the kiosk's birth shows it online, "out of service" reaches
// the customer screen and survives nothing but "in service", a support
// bundle carries no personal data, and after a key rotation the kiosk's
// documents are still filed.
func TestCentralCommandsReachTheKiosk(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const number = "03510//0961289"
	s, err := startSim(ctx, flags{demo: true, data: dir, code: number}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, m, id := s.dashboard.Store, s.dashboard.Monitor, s.app().KioskID
	testtool.WaitFor(t, 60*time.Second, "the kiosk's birth", func() bool {
		k, err := st.Kiosk(ctx, id)
		return err == nil && k.Online && k.BirthSeq >= 1
	})

	w := watchCommands(t, s)

	send := func(kind string, args map[string]string) store.CommandRecord {
		t.Helper()
		recs, err := m.Send(ctx, "test", []string{id}, kind, args)
		if err != nil {
			t.Fatal(err)
		}
		return answered(t, st, id, recs[0].Seq)
	}
	if r := send(wire.CmdOutOfService, map[string]string{"reason": "maintenance"}); r.Result != wire.ResultDone {
		t.Fatalf("out of service: %+v", r)
	}
	if v := kioskView(t, s.app().UIURL); v.NotReady == "" || v.NotReadyReason != "out-of-service.maintenance" {
		t.Fatalf("kiosk screen after out of service: %+v", v)
	}
	if err := s.app().Kiosk.Identify("035F083761"); err == nil {
		t.Fatal("a kiosk out of service took a number")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "kiosk", "out-of-service")); err != nil || strings.TrimSpace(string(b)) != "maintenance" {
		t.Fatalf("out of service not persisted: %q %v", b, err)
	}
	if r := send(wire.CmdInService, nil); r.Result != wire.ResultDone {
		t.Fatalf("in service: %+v", r)
	}
	if v := kioskView(t, s.app().UIURL); v.NotReady != "" {
		t.Fatalf("kiosk screen after in service: %+v", v)
	}

	// A visit, then a support bundle: counts, versions, configuration;
	// nothing of the number.
	if _, err := s.demo(ctx, number); err != nil {
		t.Fatal(err)
	}
	if r := send(wire.CmdSupportBundle, nil); r.Result != wire.ResultDone {
		t.Fatalf("support bundle: %+v", r)
	}
	evs, err := st.Events(ctx, id, 50)
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, e := range evs {
		if e.Code == "support-bundle" {
			bundle = e.Event
			break
		}
	}
	var sb wire.SupportBundle
	if err := json.Unmarshal(bundle, &sb); err != nil || sb.Counters["visits"] < 1 || sb.Versions["einwurf"] == "" || len(sb.Config) == 0 {
		t.Fatalf("bundle %s: %v", bundle, err)
	}
	for _, secret := range []string{"0961289", "03510", s.centralSecret} {
		if bytes.Contains(bundle, []byte(secret)) {
			t.Fatalf("support bundle carries %q", secret)
		}
	}
	// Nothing the central stores about the kiosk carries the number either.
	k, _ := st.Kiosk(ctx, id)
	all := append([]byte(nil), k.Telemetry...)
	for _, e := range evs {
		all = append(all, e.Event...)
	}
	if bytes.Contains(all, []byte("0961289")) {
		t.Fatal("the central's fleet data carries the number")
	}

	// Rotate the device key: the central enrols the new one, the kiosk
	// signs with it, and its next document is still filed.
	oldKey, _ := os.ReadFile(filepath.Join(dir, "kiosk", "device.key"))
	if r := send(wire.CmdRotateKey, nil); r.Result != wire.ResultDone {
		t.Fatalf("rotate key: %+v", r)
	}
	newKey, _ := os.ReadFile(filepath.Join(dir, "kiosk", "device.key"))
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("device key file unchanged")
	}
	if _, err := s.demo(ctx, number); err != nil {
		t.Fatalf("visit after key rotation: %v", err)
	}

	// A replayed command (the out-of-service message again, as it
	// crossed the broker) is refused, reported, and changes nothing.
	w.replay(wire.CmdOutOfService)
	if v := kioskView(t, s.app().UIURL); v.NotReady != "" {
		t.Fatalf("replayed out-of-service took effect: %+v", v)
	}
	win, err := command.OpenWindow(filepath.Join(dir, "kiosk", "command.seq"))
	if err != nil {
		t.Fatal(err)
	}
	// 4 is the rotation, 5 the central's confirmation of the new key.
	if win.High() != 5 {
		t.Fatalf("command window highest %d, want 5", win.High())
	}
}
