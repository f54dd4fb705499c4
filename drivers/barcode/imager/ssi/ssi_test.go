package ssi

import (
	"bytes"
	"errors"
	"testing"

	"github.com/einwurf/einwurf/drivers/barcode"
)

// A DECODE_DATA frame for Code 128 "035F083761", checksum worked out
// independently: the sum of the 15 bytes is 0x031C, its two's complement
// 0xFCE4.
var decode128 = []byte{0x0F, 0xF3, 0x00, 0x00, 0x03, '0', '3', '5', 'F', '0', '8', '3', '7', '6', '1', 0xFC, 0xE4}

func TestDecodeKnownFrame(t *testing.T) {
	p, err := Decode(decode128)
	if err != nil {
		t.Fatal(err)
	}
	if p.Opcode != OpDecodeData || p.Source != SourceDecoder || p.Status != 0 || string(p.Data[1:]) != "035F083761" || Symbology(p.Data[0]) != barcode.SymbologyCode128 {
		t.Fatalf("packet %+v", p)
	}
	enc, err := Encode(p)
	if err != nil || !bytes.Equal(enc, decode128) {
		t.Fatalf("re-encoded % x, %v", enc, err)
	}
}

func TestACKNAK(t *testing.T) {
	// The host ACK and NAK RESEND frames as Zebra's SSI guide prints them.
	if got := ACK(); !bytes.Equal(got, []byte{0x04, 0xD0, 0x04, 0x00, 0xFF, 0x28}) {
		t.Fatalf("ACK % x", got)
	}
	if got := NAK(NAKResend); !bytes.Equal(got, []byte{0x05, 0xD1, 0x04, 0x00, 0x01, 0xFF, 0x25}) {
		t.Fatalf("NAK % x", got)
	}
}

func TestDecodeRefuses(t *testing.T) {
	bad := append([]byte(nil), decode128...)
	bad[7] ^= 1
	long := append(append([]byte(nil), decode128...), 0)
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"empty":    {nil, ErrShort},
		"short":    {decode128[:5], ErrShort},
		"lenbyte":  {[]byte{2, 0, 0, 0, 0, 0}, ErrShort},
		"trunc":    {decode128[:16], ErrLength},
		"overlong": {long, ErrLength},
		"checksum": {bad, ErrChecksum},
	} {
		_, err := Decode(tc.in)
		if !errors.Is(err, tc.want) || !errors.Is(err, barcode.ErrFrame) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	if _, err := Encode(Packet{Data: make([]byte, MaxData+1)}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Encode(Packet{Data: make([]byte, MaxData)}); err != nil {
		t.Fatalf("max packet: %v", err)
	}
}

func TestSplitter(t *testing.T) {
	var s Splitter
	stream := append([]byte{0x00, 0x01, 0x03}, decode128...)
	stream = append(stream, ACK()...)
	var frames [][]byte
	noise := 0
	for _, b := range stream {
		f, n := s.Push(b)
		if n {
			noise++
		}
		if f != nil {
			frames = append(frames, append([]byte(nil), f...))
		}
	}
	if noise != 3 || len(frames) != 2 || !bytes.Equal(frames[0], decode128) || !bytes.Equal(frames[1], ACK()) {
		t.Fatalf("noise %d, frames % x", noise, frames)
	}
	s.Push(0x10)
	if !s.InFrame() || !s.Reset() || s.InFrame() || s.Reset() {
		t.Fatal("Reset/InFrame wrong")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(decode128)
	f.Add(ACK())
	f.Add([]byte{4, 0, 0, 0, 0xff, 0xfc})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Decode(in)
		if err != nil {
			if !errors.Is(err, barcode.ErrFrame) {
				t.Fatalf("err %v not ErrFrame", err)
			}
			return
		}
		enc, err := Encode(p)
		if err != nil || !bytes.Equal(enc, in) {
			t.Fatalf("accepted frame % x does not round-trip: % x, %v", in, enc, err)
		}
	})
}

func FuzzSplitter(f *testing.F) {
	f.Add(append([]byte{1, 2}, decode128...))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Splitter
		for _, b := range in {
			fr, noise := s.Push(b)
			if noise && fr != nil {
				t.Fatal("noise byte completed a frame")
			}
			if fr != nil && (len(fr) < HeaderLen+2 || int(fr[0])+2 != len(fr)) {
				t.Fatalf("frame % x inconsistent with its length byte", fr)
			}
		}
	})
}
