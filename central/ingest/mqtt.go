package ingest

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/wire"
)

// Serve subscribes client to every kiosk's packet topics (as a shared
// subscription of group when group is not empty, so several ingest
// processes split the load) and handles messages until ctx is done.
// It subscribes once only; prefer Run, which subscribes again after a
// reconnect to a broker that lost the session.
//
// Messages are handed to a bounded pool of workers, never processed in the
// client's own goroutine; replies are published at QoS 1. The client should
// be created with a persistent session (CleanSession false) so that
// messages arriving while an ingest process is down are kept by the broker.
func Serve(ctx context.Context, client mqtt.Client, in *Ingest, group string, workers int) error {
	if workers <= 0 {
		workers = 4
	}
	work := make(chan mqtt.Message, 4*workers)
	filter := wire.PacketFilter
	if group != "" {
		filter = wire.SharedFilter(group, filter)
	}
	tok := client.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case work <- m:
		case <-ctx.Done():
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("ingest: subscribe: %v", tok.Error())
	}
	done := make(chan struct{})
	for i := 0; i < workers; i++ {
		go func() {
			for {
				select {
				case <-done:
					return
				case m := <-work:
					handle(client, in, m)
				}
			}
		}()
	}
	<-ctx.Done()
	close(done)
	client.Unsubscribe(filter).WaitTimeout(2 * time.Second)
	return ctx.Err()
}

// ClientOptions configure the central's MQTT client.
type ClientOptions struct {
	// Brokers are tried in turn ("ssl://host:8883", ...).
	Brokers []string
	// ClientID must be unique per ingest process and stable across its
	// restarts, so the broker's persistent session (with the messages that
	// arrived while the process was down) is picked up again.
	ClientID           string
	Username, Password string
	// TLS holds the central's client certificate and the broker's CA.
	TLS *tls.Config
	// OnConnect is called on every (re)connect; may be nil.
	OnConnect func(mqtt.Client)
	// InOrder delivers messages one after the other in arrival order
	// (paho's OrderMatters); ingest's workers take them in any order.
	InOrder bool
}

// Run is the ingest process's main loop: it connects with o (retrying with
// back-off until ctx ends), subscribes to the packet topics as a member of
// the shared subscription group (again on every reconnect, in case the
// broker lost the session) and handles messages with workers until ctx is
// done. Several processes with the same group and distinct client ids
// split the load; they may share one state folder.
func Run(ctx context.Context, o ClientOptions, in *Ingest, group string, workers int) error {
	if workers <= 0 {
		workers = 4
	}
	if in.defaultOwner && o.ClientID != "" {
		// Stable across restarts: a restarted process takes its own
		// claims back at once.
		in.cfg.Owner = o.ClientID
	}
	work := make(chan mqtt.Message, 4*workers)
	filter := wire.PacketFilter
	if group != "" {
		filter = wire.SharedFilter(group, filter)
	}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case work <- m:
		case <-ctx.Done():
		}
	}
	user := o.OnConnect
	o.OnConnect = func(c mqtt.Client) {
		// Subscribe from a goroutine: paho's connect handler must not wait
		// for a token.
		go func() {
			t := c.Subscribe(filter, 1, handler)
			if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
				in.cfg.Logger.Warn("ingest: subscribe failed", "err", t.Error())
			}
		}()
		if user != nil {
			user(c)
		}
	}
	client := NewClient(o)
	t := client.Connect() // with ConnectRetry, completes only once connected
	select {
	case <-t.Done():
		if t.Error() != nil {
			return fmt.Errorf("ingest: connect: %w", t.Error())
		}
	case <-ctx.Done():
		client.Disconnect(0)
		return ctx.Err()
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-work:
					handle(client, in, m)
				}
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	client.Disconnect(250)
	return ctx.Err()
}

// handle processes one message, publishes the replies and only then
// acknowledges it, so a crash before the reply means redelivery.
func handle(client mqtt.Client, in *Ingest, m mqtt.Message) {
	replies, _ := in.Handle(m.Topic(), m.Payload())
	for _, r := range replies {
		t := client.Publish(r.Topic, 1, false, r.Payload)
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			in.cfg.Logger.Warn("ingest: reply not published", "err", t.Error())
		}
	}
	m.Ack()
}

// NewClient returns a paho client set up for ingest: a persistent session
// (the broker keeps messages while the process is down), acknowledgement
// only after a message was handled (so a crash means redelivery, not loss),
// and automatic reconnection.
func NewClient(o ClientOptions) mqtt.Client {
	opts := o.MQTTOptions().
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(o.InOrder).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	if o.OnConnect != nil {
		opts.SetOnConnectHandler(o.OnConnect)
	}
	return mqtt.NewClient(opts)
}

// MQTTOptions are paho's options for o's brokers, client id, user and TLS,
// for a caller to complete.
func (o ClientOptions) MQTTOptions() *mqtt.ClientOptions {
	opts := mqtt.NewClientOptions().SetClientID(o.ClientID)
	for _, b := range o.Brokers {
		opts.AddBroker(b)
	}
	if o.Username != "" {
		opts.SetUsername(o.Username).SetPassword(o.Password)
	}
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	return opts
}
