package usbredir_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/einwurf/einwurf/vm/usbredir"
	"github.com/einwurf/einwurf/vm/usbredir/ippscanner"
)

// packet is one packet as the guest sends it: a 32-bit id header (before
// the hellos or without 64-bit ids) or a 64-bit one.
func packet(long bool, typ uint32, id uint64, header, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)+len(data)))
	if long {
		b = binary.LittleEndian.AppendUint64(b, id)
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(id))
	}
	return append(append(b, header...), data...)
}

func hello(caps uint32) []byte {
	return packet(false, usbredir.TypeHello, 0, make([]byte, 64), binary.LittleEndian.AppendUint32(nil, caps))
}

// guestStream is a plausible guest's opening: hello with QEMU's caps, then
// descriptors, configuration, a bulk OUT with an HTTP request and a bulk
// IN, all with 64-bit ids and 32-bit bulk lengths.
func guestStream() []byte {
	var b []byte
	b = append(b, hello(usbredir.HostCaps|1<<usbredir.CapFilter)...)
	b = append(b, packet(true, usbredir.TypeControlPacket, 1, usbredir.Control{Endpoint: 0x80, RequestType: 0x80, Request: 6, Value: 0x0100, Length: 18}.Encode(), nil)...)
	b = append(b, packet(true, usbredir.TypeControlPacket, 2, usbredir.Control{Endpoint: 0x80, RequestType: 0x80, Request: 6, Value: 0x0200, Length: 255}.Encode(), nil)...)
	b = append(b, packet(true, usbredir.TypeSetConfiguration, 3, []byte{1}, nil)...)
	req := []byte("GET /eSCL/ScannerStatus HTTP/1.1\r\nHost: localhost\r\n\r\n")
	b = append(b, packet(true, usbredir.TypeBulkPacket, 4, []byte{0x01, 0, byte(len(req)), 0, 0, 0, 0, 0, 0, 0}, req)...)
	b = append(b, packet(true, usbredir.TypeBulkPacket, 5, []byte{0x81, 0, 0, 0x40, 0, 0, 0, 0, 0, 0}, nil)...)
	b = append(b, packet(true, usbredir.TypeCancelDataPacket, 5, nil, nil)...)
	return b
}

// readAll reads packets as the host until an error, checking each.
func readAll(t *testing.T, in []byte) error {
	c := usbredir.NewConn(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), io.Discard}, usbredir.Host, usbredir.HostCaps)
	for range len(in)/12 + 1 {
		p, err := c.ReadPacket()
		if err != nil {
			return err
		}
		if p.Type == usbredir.TypeBulkPacket {
			b := c.DecodeBulk(p.Header)
			if b.Endpoint&0x80 == 0 && int(b.Length) != len(p.Data) || b.Endpoint&0x80 != 0 && len(p.Data) != 0 {
				t.Fatalf("bulk packet %+v with %d bytes of data accepted", b, len(p.Data))
			}
		}
	}
	return io.EOF
}

// TestBadPackets: each breaks the protocol one way and is refused with
// ErrProtocol.
func TestBadPackets(t *testing.T) {
	h := hello(usbredir.HostCaps)
	cases := map[string][]byte{
		"no hello first":        packet(false, usbredir.TypeReset, 0, nil, nil),
		"second hello":          append(append([]byte{}, h...), hello(usbredir.HostCaps)...),
		"unknown type":          append(append([]byte{}, h...), packet(true, 77, 1, nil, nil)...),
		"connect towards host":  append(append([]byte{}, h...), packet(true, usbredir.TypeDeviceConnect, 1, make([]byte, 10), nil)...),
		"header cut short":      append(append([]byte{}, h...), packet(true, usbredir.TypeSetConfiguration, 1, nil, nil)...),
		"data on reset":         append(append([]byte{}, h...), packet(true, usbredir.TypeReset, 1, nil, []byte{1})...),
		"out data too short":    append(append([]byte{}, h...), packet(true, usbredir.TypeBulkPacket, 1, []byte{0x01, 0, 9, 0, 0, 0, 0, 0, 0, 0}, []byte("short"))...),
		"data on an in request": append(append([]byte{}, h...), packet(true, usbredir.TypeBulkPacket, 1, []byte{0x81, 0, 5, 0, 0, 0, 0, 0, 0, 0}, []byte("bytes"))...),
		"caps not whole words":  packet(false, usbredir.TypeHello, 0, make([]byte, 64), []byte{1, 2, 3}),
		"longer than MaxPacket": append(append([]byte{}, h...), []byte{101, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0, 0, 0, 0, 0}...),
		"filter not terminated": append(append([]byte{}, h...), packet(true, usbredir.TypeFilterFilter, 1, nil, []byte("-1,-1,-1,-1,1"))...),
		"control in with data":  append(append([]byte{}, h...), packet(true, usbredir.TypeControlPacket, 1, usbredir.Control{Endpoint: 0x80, Length: 2}.Encode(), []byte{1, 2})...),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if err := readAll(t, in); !errors.Is(err, usbredir.ErrProtocol) {
				t.Fatalf("%v, want ErrProtocol", err)
			}
		})
	}
	if err := readAll(t, guestStream()); err != io.EOF {
		t.Fatalf("a good stream: %v", err)
	}
}

// FuzzReadPacket: whatever the guest sends, the parser returns packets
// that fit the protocol or an error (ErrProtocol, or the stream's end),
// never a panic.
func FuzzReadPacket(f *testing.F) {
	f.Add(guestStream())
	f.Add(hello(0))
	f.Add(append(hello(0), packet(false, usbredir.TypeBulkPacket, 9, []byte{0x02, 0, 3, 0, 0, 0, 0, 0}, []byte("abc"))...))
	f.Fuzz(func(t *testing.T, in []byte) {
		err := readAll(t, in)
		if !errors.Is(err, usbredir.ErrProtocol) && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v is neither a protocol error nor the end", err)
		}
	})
}

type fuzzConn struct {
	io.Reader
	io.Writer
}

func (fuzzConn) Close() error { return nil }

// FuzzServe: a whole session on whatever the guest sends ends with nil
// (the guest went away) or ErrProtocol, never a panic or a hang.
func FuzzServe(f *testing.F) {
	f.Add(guestStream())
	f.Add(append(hello(0), packet(false, usbredir.TypeSetAltSetting, 1, []byte{5, 1}, nil)...))
	f.Add(append(hello(usbredir.HostCaps), packet(true, usbredir.TypeStopBulkReceiving, 1, []byte{0, 0, 0, 0, 0x81}, nil)...))
	h := http.NotFoundHandler()
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := usbredir.Serve(ctx, fuzzConn{bytes.NewReader(in), io.Discard}, ippscanner.New(h, 2, "F", quiet), quiet)
		if err != nil && !errors.Is(err, usbredir.ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Serve: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("Serve ran into the time-out")
		}
	})
}
