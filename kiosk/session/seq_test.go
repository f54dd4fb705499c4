package session

import (
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner/scannertest"
)

// Every change of the view counts up its Seq, so a page can tell the newer
// of two views.
func TestViewSeq(t *testing.T) {
	k, _ := withDouble(t, &scannertest.Scanner{})
	s0 := k.View().Seq
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	s1 := k.View().Seq
	k.Cancel()
	if s2 := k.View().Seq; !(s0 < s1 && s1 < s2) {
		t.Fatalf("seq %d, %d, %d", s0, s1, s2)
	}
}
