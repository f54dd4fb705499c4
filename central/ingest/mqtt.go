package ingest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/wire"
)

// Serve subscribes client to every kiosk's packet topics (as a shared
// subscription of group when group is not empty, so several ingest
// processes split the load) and handles messages until ctx is done.
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
					replies, _ := in.Handle(m.Topic(), m.Payload())
					for _, r := range replies {
						t := client.Publish(r.Topic, 1, false, r.Payload)
						if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
							slog.Warn("ingest: reply not published", "err", t.Error())
						}
					}
					m.Ack()
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
	Brokers            []string
	ClientID           string
	Username, Password string
	TLS                *tls.Config
}

// NewClient returns a paho client set up for ingest: a persistent session
// (the broker keeps messages while the process is down), acknowledgement
// only after a message was handled (so a crash means redelivery, not loss),
// and automatic reconnection.
func NewClient(o ClientOptions) mqtt.Client {
	opts := mqtt.NewClientOptions().
		SetClientID(o.ClientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	for _, b := range o.Brokers {
		opts.AddBroker(b)
	}
	if o.Username != "" {
		opts.SetUsername(o.Username).SetPassword(o.Password)
	}
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	return mqtt.NewClient(opts)
}
