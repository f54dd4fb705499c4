package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/board/identity"
	"github.com/einwurf/einwurf/central/brokeracl"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// dynsec sends one dynamic-security command over a connection of the
// central's and checks the plugin's answer.
func dynsec(t *testing.T, br *mosquittotest.Broker, tc *tls.Config, cmd map[string]any) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(br.CentralURL()).SetClientID("dynsec-test").SetTLSConfig(tc).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(50)
	answer := make(chan []byte, 1)
	if tok := c.Subscribe(brokeracl.ResponseTopic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case answer <- m.Payload():
		default:
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	b, _ := json.Marshal(map[string]any{"commands": []any{cmd}})
	if tok := c.Publish(brokeracl.ControlTopic, 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case a := <-answer:
		if err := brokeracl.CheckAnswer(a, 1); err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer from the dynamic-security plugin:\n%s", br.Log())
	}
}

func devicePub(t *testing.T, kioskDir string) ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile(identity.Paths{Dir: kioskDir}.Key())
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.ParseKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().(ed25519.PublicKey)
}

// TestKeyRotationAnswerLost runs the simulated kiosk and the central
// through a real mosquitto (mutual TLS, dynamic-security ACL). The broker
// drops the kiosk's answer to "rotate the device key" (an ACL denies its
// result topic while it answers); the kiosk has switched to its new key,
// the central still knows only the old one. Without anyone enrolling by
// hand the kiosk's next copy of the rotation (signed with the old key)
// reaches the central, which enrols the new key and confirms it, signed;
// the kiosk stops announcing, and its next document is filed.
func TestKeyRotationAnswerLost(t *testing.T) {
	mosquittotest.Need(t)
	dir := t.TempDir()
	pki, br := mosquittotest.StartTest(t, dir)
	centralTLS, err := pki.ClientTLS(mosquittotest.CentralUser)
	if err != nil {
		t.Fatal(err)
	}
	ext := &externalBroker{KioskURL: br.URL(), CentralURL: br.CentralURL(), CentralTLS: centralTLS,
		KioskTLS: func(id string) (*tls.Config, error) {
			if err := br.Enrol(id); err != nil {
				return nil, err
			}
			return pki.ClientTLS(id)
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const number = "035F083761"
	s, err := startSim(ctx, flags{demo: true, data: filepath.Join(dir, "sim"), code: number, ext: ext}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, m, id := s.dashboard.Store, s.dashboard.Monitor, s.app().KioskID
	kioskDir := filepath.Join(dir, "sim", "kiosk")
	testtool.WaitFor(t, 60*time.Second, "the kiosk's birth through mosquitto", func() bool {
		k, err := st.Kiosk(ctx, id)
		return err == nil && k.Online && k.BirthSeq >= 1
	})
	oldPub := devicePub(t, kioskDir)

	// A listener with the central's certificate: births as they pass.
	var mu sync.Mutex
	var births [][]byte
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(br.CentralURL()).SetClientID("listener").SetTLSConfig(centralTLS))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cl.Disconnect(100)
	if tok := cl.Subscribe(wire.BirthTopic(id), 1, func(_ mqtt.Client, msg mqtt.Message) {
		mu.Lock()
		births = append(births, msg.Payload())
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	// The broker drops whatever the kiosk publishes on its result topic.
	deny := map[string]any{"rolename": "kiosk-" + id, "acltype": "publishClientSend",
		"topic": wire.CommandResultTopic(id), "allow": false, "priority": 10}
	deny["command"] = "addRoleACL"
	dynsec(t, br, centralTLS, deny)
	recs, err := m.Send(ctx, "test", []string{id}, wire.CmdRotateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotSeq := recs[0].Seq
	var newPub ed25519.PublicKey
	testtool.WaitFor(t, 60*time.Second, "the kiosk's new key", func() bool {
		newPub = devicePub(t, kioskDir)
		return !newPub.Equal(oldPub)
	})
	// Commands run one at a time: a birth signed with the new key, sent
	// for the "resend status" that follows, shows the kiosk has published
	// (and the broker dropped) its answer to the rotation.
	if _, err := m.Send(ctx, "test", []string{id}, wire.CmdResendStatus, nil); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, 60*time.Second, "a birth signed with the new key", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range births {
			if wire.Verify(newPub, wire.TypeBirth, b, new(wire.Birth)) == nil {
				return true
			}
		}
		return false
	})
	if cur, _ := s.dashboard.Keys.Lookup(id); !cur.Equal(oldPub) {
		t.Fatal("the central learnt the new key although the answer was dropped")
	}
	cs, _ := st.Commands(ctx, id, 10)
	for _, c := range cs {
		if c.Seq == rotSeq && c.Result != "" {
			t.Fatalf("the rotation's answer was not dropped: %+v", c)
		}
	}

	// The broker lets results through again; nobody enrols anything.
	delete(deny, "allow")
	delete(deny, "priority")
	deny["command"] = "removeRoleACL"
	dynsec(t, br, centralTLS, deny)
	rec := answered(t, st, id, rotSeq)
	if rec.Result != wire.ResultDone || rec.Detail != "new key enrolled" {
		t.Fatalf("rotation %+v", rec)
	}
	if cur, _ := s.dashboard.Keys.Lookup(id); !cur.Equal(newPub) {
		t.Fatal("new key not enrolled")
	}
	// The central's confirmation ends the kiosk's announcements.
	testtool.WaitFor(t, 60*time.Second, "the kiosk to take the confirmation", func() bool {
		_, err := os.Stat(filepath.Join(kioskDir, "key-rotation"))
		return os.IsNotExist(err)
	})
	cs, _ = st.Commands(ctx, id, 10)
	if cs[0].Kind != wire.CmdKeyEnrolled || cs[0].By != "monitor" {
		t.Fatalf("no confirmation in the audit log: %+v", cs[0])
	}
	if rec := answered(t, st, id, cs[0].Seq); rec.Result != wire.ResultDone {
		t.Fatalf("confirmation %+v", rec)
	}
	// The kiosk's next document, signed with the new key, is filed.
	if _, err := s.demo(ctx, number); err != nil {
		t.Fatal(err)
	}
}
