package document_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

// The session's use: ingest each page as the scanner's job yields it, show
// the customer what blank-page removal did, build the PDF/A and render the
// review thumbnails from it.
func Example() {
	dir, err := os.MkdirTemp("", "session-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir) // the session wipes its folder when it ends

	front, _ := testpage.Letter(150, "035F083761", false, 1)
	back := testpage.BlankBack(150, 2)
	var pages []document.Page
	scans := []struct {
		side scanner.Side
		data []byte
	}{{scanner.Front, mustJPEG(front)}, {scanner.Back, mustJPEG(back)}}
	for i, g := range scans {
		// In the kiosk this *scanner.Page comes from scanner.Job.Next.
		sp := &scanner.Page{Format: scanner.FormatJPEG, Sheet: 1, Side: g.side, Resolution: 150, Body: io.NopCloser(bytes.NewReader(g.data))}
		p, err := document.Ingest(context.Background(), dir, sp, document.DefaultOptions())
		if err != nil {
			fmt.Println("page", i, err) // tell the customer; the other pages stay
			continue
		}
		pages = append(pages, p)
	}
	kept, st := document.DropBlanks(pages)
	fmt.Printf("scanned %d, kept %d, removed %v\n", st.Scanned, st.Kept, st.Removed)
	fmt.Println("codes on the pages:", document.CodeTexts(pages))

	pdf := filepath.Join(dir, "document.pdf")
	f, err := os.Create(pdf)
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := document.Build(context.Background(), f, kept, document.Meta{Title: "Einwurf", Created: time.Now()})
	f.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	thumbs, err := document.Thumbnails(pdf, document.ThumbWidth)
	fmt.Println("pages in PDF:", sum.Pages, "thumbnails:", len(thumbs), err)
	// Output:
	// scanned 2, kept 1, removed [1]
	// codes on the pages: [035F083761]
	// pages in PDF: 1 thumbnails: 1 <nil>
}

func mustJPEG(g *image.Gray) []byte {
	b, _ := testpage.JPEG(g, true, 85)
	return b
}
