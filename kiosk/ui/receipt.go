package ui

import (
	"encoding/json"
	"slices"

	"github.com/einwurf/einwurf/drivers/printer"
)

// unprintable are the languages whose script the receipt printer's
// character tables do not hold (Arabic needs shaping and right-to-left):
// their receipts are printed in German.
var unprintable = []string{"ar"}

// ReceiptLabels returns the printed receipt's texts in lang, from the
// same catalogues as the screen (German for a language the printer
// cannot print, or one it does not know). It fits session.Config.Labels.
func ReceiptLabels(lang string) printer.Labels {
	if !slices.Contains(languages, lang) || slices.Contains(unprintable, lang) {
		lang = "de"
	}
	b, err := assets.ReadFile("assets/i18n/" + lang + ".json")
	var c map[string]string
	if err != nil || json.Unmarshal(b, &c) != nil {
		return printer.German // the catalogues are checked by the tests
	}
	return printer.Labels{Title: c["receipt.title"], Time: c["receipt.time"], Number: c["receipt.number"],
		Team: c["receipt.team"], Pages: c["receipt.pages"], Code: c["receipt.code"], Footer: c["receipt.qr"],
		Layout: c["receipt.layout"]}.WithDefaults()
}
