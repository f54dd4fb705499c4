package ui

import (
	"encoding/json"
	"slices"

	"github.com/einwurf/einwurf/drivers/printer"
)

// ReceiptLabels returns the printed receipt's texts in lang, from the
// same catalogues as the screen (German for a language it does not know).
// Arabic is drawn by the printer's encoder with a font (escpos.Font), or
// printed in German by a printer that has none. It fits
// session.Config.Labels.
func ReceiptLabels(lang string) printer.Labels {
	if !slices.Contains(languages, lang) {
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
