// Package brokeracl is the broker's side of the fleet's access rules, for
// mosquitto 2.0's dynamic-security plugin: the central's role, each kiosk's
// own role (publish under einwurf/v1/k/<id>/, subscribe to and receive only
// einwurf/v1/c/<id>/; everything else, the ingest's shared subscription
// included, is denied by default), and Enrol, which lets a kiosk in over
// the plugin's control topic. docs/operations.md shows exactly what these
// functions produce; the broker tests run with it.
package brokeracl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/wire"
)

// The plugin's control topics.
const (
	ControlTopic  = "$CONTROL/dynamic-security/v1"
	ResponseTopic = ControlTopic + "/response"
)

// CentralUser is the user name (certificate common name) of the central's
// processes.
const CentralUser = "central"

// ErrRefused is returned when the plugin refuses a command.
var ErrRefused = errors.New("brokeracl: the broker refused")

// ACL is one rule of the dynamic-security plugin.
type ACL struct {
	Type  string `json:"acltype"`
	Topic string `json:"topic"`
	Allow bool   `json:"allow"`
}

// CentralACLs are the central role's rules: everything, and the plugin's
// control topic, through which enrolment adds kiosks.
var CentralACLs = []ACL{
	{"publishClientSend", "#", true}, {"publishClientReceive", "#", true}, {"subscribePattern", "#", true},
	{"publishClientSend", "$CONTROL/dynamic-security/#", true},
	{"publishClientReceive", "$CONTROL/dynamic-security/#", true},
	{"subscribePattern", "$CONTROL/dynamic-security/#", true},
}

// KioskACLs are the rules of kiosk id's own role. The plugin of mosquitto
// 2.0 knows no %u pattern, hence one role per kiosk. They cover every topic
// of the kiosk, update delivery over the broker included (it asks on
// wire.FetchRequestTopic, under k/<id>/, and reads wire.FetchReplyTopic,
// under c/<id>/: no kiosk asks for another or reads another's chunks;
// firmware/update's TestDeliveryOverMQTT checks it on mosquitto).
func KioskACLs(id string) []ACL {
	return []ACL{
		{"publishClientSend", "einwurf/v1/k/" + id + "/#", true},
		{"subscribePattern", "einwurf/v1/c/" + id + "/#", true},
		{"publishClientReceive", "einwurf/v1/c/" + id + "/#", true},
	}
}

type roleRef struct {
	Name string `json:"rolename"`
}

// Config is the plugin's file at first start: deny by default, and the
// central's client and role.
func Config() []byte {
	type role struct {
		Name string `json:"rolename"`
		ACLs []ACL  `json:"acls"`
	}
	type client struct {
		Username string    `json:"username"`
		Roles    []roleRef `json:"roles"`
	}
	b, _ := json.MarshalIndent(struct {
		Default map[string]bool `json:"defaultACLAccess"`
		Clients []client        `json:"clients"`
		Groups  []struct{}      `json:"groups"`
		Roles   []role          `json:"roles"`
	}{
		Default: map[string]bool{"publishClientSend": false, "publishClientReceive": false, "subscribe": false, "unsubscribe": true},
		Clients: []client{{CentralUser, []roleRef{{"central"}}}},
		Groups:  []struct{}{},
		Roles:   []role{{"central", CentralACLs}},
	}, "", "  ")
	return b
}

// EnrolCommands are the plugin commands that let kiosk id in: its role and
// its client (no password: it authenticates with its certificate).
func EnrolCommands(id string) ([]byte, error) {
	if !wire.ValidID(id) {
		return nil, fmt.Errorf("brokeracl: kiosk id %q", id)
	}
	b, _ := json.MarshalIndent(map[string]any{"commands": []any{
		map[string]any{"command": "createRole", "rolename": "kiosk-" + id, "acls": KioskACLs(id)},
		map[string]any{"command": "createClient", "username": id, "roles": []roleRef{{"kiosk-" + id}}},
	}}, "", "  ")
	return b, nil
}

// Enrol publishes EnrolCommands for kiosk id over c, a connected client of
// the central, and waits for the plugin's answer until ctx ends.
func Enrol(ctx context.Context, c mqtt.Client, id string) error {
	cmds, err := EnrolCommands(id)
	if err != nil {
		return err
	}
	answer := make(chan []byte, 1)
	t := c.Subscribe(ResponseTopic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case answer <- m.Payload():
		default:
		}
	})
	if err := wait(ctx, t); err != nil {
		return fmt.Errorf("brokeracl: subscribe: %w", err)
	}
	defer c.Unsubscribe(ResponseTopic)
	if err := wait(ctx, c.Publish(ControlTopic, 1, false, cmds)); err != nil {
		return fmt.Errorf("brokeracl: publish: %w", err)
	}
	select {
	case a := <-answer:
		return CheckAnswer(a, 2)
	case <-ctx.Done():
		return fmt.Errorf("brokeracl: no answer: %w", ctx.Err())
	}
}

// CheckAnswer checks the plugin's answer to n commands.
func CheckAnswer(a []byte, n int) error {
	var r struct {
		Responses []struct {
			Command string `json:"command"`
			Error   string `json:"error"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(a, &r); err != nil || len(r.Responses) != n {
		return fmt.Errorf("%w: answer %q", ErrRefused, a)
	}
	for _, x := range r.Responses {
		if x.Error != "" {
			return fmt.Errorf("%w: %s: %s", ErrRefused, x.Command, x.Error)
		}
	}
	return nil
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("timed out")
	}
}
