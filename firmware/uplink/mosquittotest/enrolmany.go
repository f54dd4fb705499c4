package mosquittotest

import (
	"encoding/json"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// EnrolMany is Enrol for a fleet: it lets every kiosk of ids in over one
// connection, 250 kiosks to a dynamic-security message (the plugin rewrites
// its file after each), and waits for each answer (at most 2 min each: a
// loaded machine is slow at it).
func (b *Broker) EnrolMany(ids []string) error {
	tc, err := b.opt.PKI.ClientTLS(CentralUser)
	if err != nil {
		return err
	}
	o := mqtt.NewClientOptions().AddBroker(b.CentralURL()).SetClientID("enrol-many").SetTLSConfig(tc).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("mosquittotest: enrol: connect: %v", t.Error())
	}
	defer c.Disconnect(50)
	answers := make(chan []byte, 1)
	if t := c.Subscribe("$CONTROL/dynamic-security/v1/response", 1, func(_ mqtt.Client, m mqtt.Message) {
		answers <- m.Payload()
	}); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("mosquittotest: enrol: subscribe: %v", t.Error())
	}
	for start := 0; start < len(ids); start += 250 {
		batch := ids[start:min(start+250, len(ids))]
		var cmds []any
		for _, id := range batch {
			var one struct {
				Commands []any `json:"commands"`
			}
			json.Unmarshal(EnrolCommands(id), &one)
			cmds = append(cmds, one.Commands...)
		}
		msg, _ := json.Marshal(map[string]any{"commands": cmds})
		if t := c.Publish("$CONTROL/dynamic-security/v1", 1, false, msg); !t.WaitTimeout(2*time.Minute) || t.Error() != nil {
			return fmt.Errorf("mosquittotest: enrol: publish: %v", t.Error())
		}
		select {
		case a := <-answers:
			var r struct {
				Responses []struct {
					Command string `json:"command"`
					Error   string `json:"error"`
				} `json:"responses"`
			}
			if err := json.Unmarshal(a, &r); err != nil || len(r.Responses) != len(cmds) {
				return fmt.Errorf("mosquittotest: enrol: %d answers for %d commands", len(r.Responses), len(cmds))
			}
			for _, x := range r.Responses {
				if x.Error != "" {
					return fmt.Errorf("mosquittotest: enrol: %s: %s", x.Command, x.Error)
				}
			}
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("mosquittotest: enrol: no answer: %s", b.Log())
		}
	}
	return nil
}
