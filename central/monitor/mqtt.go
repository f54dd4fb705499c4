package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/ingest"
)

// Run connects to the broker with o, subscribes to every kiosk's status,
// births, telemetry, events and command results (again at each reconnect)
// and handles them in arrival order until ctx is done. It also makes the
// connection the monitor's publisher for commands. The client id must be
// the monitor's own (not an ingest process's).
func (m *Monitor) Run(ctx context.Context, o ingest.ClientOptions) error {
	work := make(chan mqtt.Message, 1024)
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		select {
		case work <- msg:
		case <-ctx.Done():
		}
	}
	filters := map[string]byte{}
	for _, f := range Subscriptions() {
		filters[f] = 1
	}
	user := o.OnConnect
	o.OnConnect = func(c mqtt.Client) {
		go func() {
			t := c.SubscribeMultiple(filters, handler)
			if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
				m.cfg.Log.Warn("monitor: subscribe failed", "err", t.Error())
			}
		}()
		if user != nil {
			user(c)
		}
	}
	// In arrival order: a kiosk's answer and the offline status it
	// publishes right after (a reboot) must not be taken the other way
	// round, or the dashboard shows a kiosk online that is down. The
	// handler only queues, so the order costs nothing.
	o.InOrder = true
	client := ingest.NewClient(o)
	m.SetPublisher(func(ctx context.Context, topic string, payload []byte, retained bool) error {
		if !client.IsConnectionOpen() {
			return ErrNoBroker
		}
		t := client.Publish(topic, 1, retained, payload)
		select {
		case <-t.Done():
			return t.Error()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return fmt.Errorf("monitor: publish: %w", context.DeadlineExceeded)
		}
	})
	t := client.Connect()
	select {
	case <-t.Done():
		if t.Error() != nil {
			return fmt.Errorf("monitor: connect: %w", t.Error())
		}
	case <-ctx.Done():
		client.Disconnect(0)
		return ctx.Err()
	}
	for {
		select {
		case <-ctx.Done():
			client.Disconnect(250)
			return ctx.Err()
		case msg := <-work:
			if m.handleRetrying(ctx, msg.Topic(), msg.Payload()) {
				msg.Ack()
			} // else not acknowledged: the broker delivers it again after a reconnect

		}
	}
}

// handleRetrying handles one message, retrying a fault of our own (the
// store did not answer) a few times; it reports whether the message is
// done with (taken, or dropped as bad).
func (m *Monitor) handleRetrying(ctx context.Context, topic string, payload []byte) bool {
	for try, wait := 0, 200*time.Millisecond; try < 4; try, wait = try+1, wait*3 {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.Handle(hctx, topic, payload)
		cancel()
		if err == nil || errors.Is(err, ErrTopic) || errors.Is(err, ErrUnknown) || errors.Is(err, ErrMessage) || errors.Is(err, ErrStaleMsg) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
	return false
}
