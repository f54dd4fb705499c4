// Package broker runs the embedded MQTT broker (mochi-mqtt) that the
// appliance uses in simulation, with the same access rules as the
// production broker's ACL: a kiosk, authenticated by user name and
// password, may publish only under its own kiosk topics and subscribe only
// to what the central sends it; the central's user may do everything.
package broker

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/einwurf/einwurf/wire"
)

// Broker is a running embedded broker.
type Broker struct {
	srv *mqtt.Server
	tcp *listeners.TCP
	acl *aclHook
}

// Options configure the broker.
type Options struct {
	// Addr to listen on, e.g. "127.0.0.1:1883" or "127.0.0.1:0".
	Addr string
	// Users maps user names to passwords. The user CentralUser may do
	// everything; any other user is a kiosk whose id is its user name.
	Users map[string]string
	// MaxPacket caps a message's size in bytes (0: 1 MiB, as mosquitto's
	// message_size_limit in production).
	MaxPacket uint32
	Logger    *slog.Logger
}

// CentralUser is the user name of the central's ingest and monitor.
const CentralUser = "central"

// Start starts a broker.
func Start(opt Options) (*Broker, error) {
	if opt.MaxPacket == 0 {
		opt.MaxPacket = 1 << 20
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opt.MaxPacket + 1024 // room for the header
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: log})
	acl := &aclHook{users: opt.Users, cut: map[string]bool{}}
	if err := srv.AddHook(acl, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: opt.Addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	go srv.Serve()
	return &Broker{srv: srv, tcp: tcp, acl: acl}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the broker's URL for paho, e.g. "tcp://127.0.0.1:1883".
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

// errCut ends the connection of a client the simulation cut off.
var errCut = errors.New("broker: connection cut (simulated network loss)")

// Cut simulates a kiosk losing its network (cut true): its connection is
// dropped without a DISCONNECT, so the broker publishes its last will, and
// its reconnects are refused until Cut(clientID, false).
func (b *Broker) Cut(clientID string, cut bool) {
	b.acl.mu.Lock()
	b.acl.cut[clientID] = cut
	b.acl.mu.Unlock()
	if cut {
		if cl, ok := b.srv.Clients.Get(clientID); ok {
			cl.Stop(errCut)
		}
	}
}

type aclHook struct {
	mqtt.HookBase
	users map[string]string
	mu    sync.Mutex
	cut   map[string]bool // clients whose network the simulation cut
}

func (h *aclHook) ID() string { return "einwurf-acl" }

func (h *aclHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *aclHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	h.mu.Lock()
	cut := h.cut[cl.ID]
	h.mu.Unlock()
	if cut {
		return false
	}
	want, ok := h.users[user]
	if !ok || subtle.ConstantTimeCompare([]byte(want), pk.Connect.Password) != 1 {
		return false
	}
	// A kiosk must use its id as client id, so one kiosk cannot take over
	// another's session.
	return user == CentralUser || cl.ID == user
}

func (h *aclHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return Allowed(string(cl.Properties.Username), topic, write)
}

// Allowed is the ACL: may user publish (write) to, or subscribe (read)
// with, topic?
func Allowed(user, topic string, write bool) bool {
	if user == CentralUser {
		return true
	}
	if !wire.ValidID(user) || strings.ContainsAny(topic, "+#") && write {
		return false
	}
	if write {
		return strings.HasPrefix(topic, wire.KioskPrefix(user)+"/")
	}
	return strings.HasPrefix(topic, wire.CentralPrefix(user)+"/")
}

// ErrAuth is returned by helpers when credentials are missing.
var ErrAuth = errors.New("broker: not authorised")
