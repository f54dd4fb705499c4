package mosquittotest

import (
	"os"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/central/brokeracl"
)

// TestDocumentedBrokerConfig: the configuration the tests run mosquitto
// with is the one docs/operations.md documents, word for word.
func TestDocumentedBrokerConfig(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := brokeracl.EnrolCommands("k-0001")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"mosquitto.conf":         Render(Production),
		"dynamic-security.json":  string(brokeracl.Config()),
		"the enrolment commands": string(enrol),
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/operations.md does not show %s as tested:\n%s", name, want)
		}
	}
	if strings.Contains(Render(Production), "{{") {
		t.Error("a placeholder is left in the production configuration")
	}
}
