package monitor

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// lookupView is the answer at the counter: only what the receipt itself
// shows (when, how many pages) and where the document went (the team's
// inbox); never the customer's number or the pages.
type lookupView struct {
	Found                  bool
	Class, Headline        string
	Code, Accepted, Filed  string
	Team, Pages, Signature string
}

// maxLookupInput bounds what the look-up field accepts.
const maxLookupInput = 2 * wire.MaxStatement

// Lookup answers a receipt code (or the text of a receipt's QR code) with
// what the central knows of the document.
func (m *Monitor) Lookup(ctx context.Context, input string) (*lookupView, error) {
	input = strings.TrimSpace(input)
	if input == "" || len(input) > maxLookupInput {
		return &lookupView{Class: "invalid", Headline: "That is not a receipt code."}, nil
	}
	v := &lookupView{}
	var (
		rec store.FiledPacket
		err error
	)
	if st, ok, serr := m.statement(input); ok {
		if serr != nil {
			return &lookupView{Class: "invalid", Headline: "The receipt's signature is not valid: it was not issued by one of our kiosks."}, nil
		}
		v.Signature = "valid, signed by kiosk " + st.kioskID
		v.Accepted = when(st.accepted)
		rec, err = m.cfg.Store.Lookup(ctx, st.kioskID, st.packetID)
		v.Code = st.code
	} else {
		cands := codeForms(input)
		v.Code = cands[0]
		for _, c := range cands {
			if rec, err = m.cfg.Store.LookupCode(ctx, c); !errors.Is(err, store.ErrNotFound) {
				break
			}
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		v.Class, v.Headline = "missing", "No document with this receipt has reached the central yet."
		if v.Signature != "" {
			v.Headline += " The receipt is genuine: the kiosk still holds the document and will deliver it."
		}
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	v.Found = true
	if rec.ReceiptCode != "" {
		v.Code = rec.ReceiptCode
	}
	if v.Accepted == "" {
		v.Accepted = when(rec.Created)
	}
	v.Filed, v.Team, v.Pages = when(rec.Received), teamName(rec.Team), strconv.Itoa(rec.Pages)
	switch rec.Status {
	case wire.ReceiptFiled:
		v.Class, v.Headline = "filed", "Filed into the "+v.Team+" inbox."
	default:
		v.Class, v.Headline = "missing", "Received but not filed: the document could not be read. Please ask the customer to hand it in again."
		v.Filed, v.Team = "no", "–"
	}
	return v, nil
}

// teamName is the inbox as counter staff name it.
func teamName(t string) string {
	if t == "" {
		return "team"
	}
	return t + " team"
}

func (wb *web) lookupPage(w http.ResponseWriter, r *http.Request, u *user) {
	wb.render(w, "lookup", wb.page(r.Context(), u, "Receipt look-up", "lookup"))
}

func (wb *web) lookupPost(w http.ResponseWriter, r *http.Request, u *user) {
	p := wb.page(r.Context(), u, "Receipt look-up", "lookup")
	in := r.PostFormValue("code")
	res, err := wb.m.Lookup(r.Context(), in)
	if err != nil {
		wb.fail(w, err)
		return
	}
	p.Result = res
	if len(in) <= 64 {
		p.Code = in
	}
	wb.render(w, "lookup", p)
}

// codeForms are the spellings of a typed receipt code to try: as typed
// (upper case, without spaces), without separators, and in groups of four
// joined by '-', as receipts print them; counter staff type what they
// see, with or without the separators.
func codeForms(in string) []string {
	typed := strings.ToUpper(strings.Join(strings.Fields(in), ""))
	bare := strings.NewReplacer("-", "", ".", "", "/", "").Replace(typed)
	var groups []string
	for i := 0; i < len(bare); i += 4 {
		groups = append(groups, bare[i:min(len(bare), i+4)])
	}
	out := []string{typed}
	for _, c := range []string{bare, strings.Join(groups, "-")} {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
