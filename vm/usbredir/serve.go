package usbredir

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// HostCaps are the capabilities Serve offers: the device version in
// device_connect, packet sizes in ep_info, 64-bit ids and 32-bit bulk
// lengths (QEMU asks for the last three before it attaches a device to an
// XHCI controller's USB 3 port).
const HostCaps = 1<<CapConnectDeviceVersion | 1<<CapEPInfoMaxPacketSize | 1<<Cap64BitIDs | 1<<Cap32BitBulkLength

// maxBuffered bounds what one interface holds of its function's output
// that the guest has not yet read: the function is not read further until
// the guest asks for more, so memory stays flat however much it sends.
const maxBuffered = 256 << 10

// Serve offers dev to the guest at the other end of rw (QEMU's usb-redir
// chardev) until the guest goes away (nil), ctx ends (the device is
// disconnected first) or the guest breaks the protocol (ErrProtocol). It
// closes rw when it returns.
func Serve(ctx context.Context, rw io.ReadWriteCloser, dev *Device, log *slog.Logger) error {
	if len(dev.Interfaces) == 0 || len(dev.Interfaces) > 15 {
		return fmt.Errorf("usbredir: a device needs 1 to 15 interfaces, not %d", len(dev.Interfaces))
	}
	c := NewConn(rw, Host, HostCaps)
	s := &session{c: c, dev: dev, log: log, cfg: configValue}
	defer rw.Close()
	stop := context.AfterFunc(ctx, func() {
		_ = c.WritePacket(TypeDeviceDisconnect, 0, nil, nil)
		_ = rw.Close()
	})
	defer stop()
	if err := c.Hello(); err != nil {
		return fmt.Errorf("usbredir: hello: %w", err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		return s.end(ctx, fmt.Errorf("usbredir: the guest's hello: %w", err))
	}
	log.Info("usbredir: guest connected", "version", HelloVersion(p.Header), "64-bit ids", c.Has(Cap64BitIDs))
	for i, it := range dev.Interfaces {
		f, err := it.Open()
		if err != nil {
			s.close()
			return fmt.Errorf("usbredir: interface %d: %w", i, err)
		}
		pp := &pipe{s: s, ep: 0x80 | uint8(i+1), f: f}
		pp.cond = sync.NewCond(&pp.mu)
		s.pipes = append(s.pipes, pp)
	}
	defer s.close()
	for _, pp := range s.pipes {
		go pp.pumpIn()
		go pp.pumpOut()
	}
	if err := s.sendInfo(); err != nil {
		return s.end(ctx, err)
	}
	connect := DeviceConnect{Speed: SpeedHigh, Vendor: dev.Vendor, Product: dev.Product, Version: dev.Release}
	if err := c.WritePacket(TypeDeviceConnect, 0, c.EncodeDeviceConnect(connect), nil); err != nil {
		return s.end(ctx, err)
	}
	for {
		p, err := c.ReadPacket()
		if err != nil {
			return s.end(ctx, err)
		}
		if err := s.handle(p); err != nil {
			return s.end(ctx, err)
		}
	}
}

// session is one guest connection.
type session struct {
	c     *Conn
	dev   *Device
	log   *slog.Logger
	cfg   uint8
	pipes []*pipe
}

// end maps the end of the connection: the guest leaving (EOF) or our own
// stop is no error.
func (s *session) end(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (s *session) close() {
	for _, p := range s.pipes {
		p.close()
	}
}

func (s *session) sendInfo() error {
	if err := s.c.WritePacket(TypeEPInfo, 0, s.c.EncodeEPInfo(s.dev.epInfo(s.cfg)), nil); err != nil {
		return err
	}
	return s.c.WritePacket(TypeInterfaceInfo, 0, s.dev.interfaceInfo(s.cfg).Encode(), nil)
}

func (s *session) handle(p Packet) error {
	c := s.c
	if p.Type != TypeBulkPacket {
		s.log.Debug("usbredir: packet", "type", p.Type, "id", p.ID, "header", fmt.Sprintf("% x", p.Header))
	}
	switch p.Type {
	case TypeControlPacket:
		cp := DecodeControl(p.Header)
		data, st := s.dev.control(cp)
		cp.Status = st
		if cp.Endpoint&0x80 == 0 {
			data = nil
			if st != StatusSuccess {
				cp.Length = 0
			}
		} else {
			cp.Length = uint16(len(data))
		}
		return c.WritePacket(TypeControlPacket, p.ID, cp.Encode(), data)
	case TypeSetConfiguration:
		st := uint8(StatusSuccess)
		if v := p.Header[0]; v == 0 || v == configValue {
			s.cfg = v
		} else {
			st = StatusStall
		}
		if err := s.sendInfo(); err != nil {
			return err
		}
		return c.WritePacket(TypeConfigurationStatus, p.ID, []byte{st, s.cfg}, nil)
	case TypeGetConfiguration:
		return c.WritePacket(TypeConfigurationStatus, p.ID, []byte{StatusSuccess, s.cfg}, nil)
	case TypeSetAltSetting, TypeGetAltSetting:
		st, intf := uint8(StatusSuccess), p.Header[0]
		if s.cfg != configValue || int(intf) >= len(s.dev.Interfaces) || p.Type == TypeSetAltSetting && p.Header[1] != 0 {
			st = StatusStall
		}
		if p.Type == TypeSetAltSetting && st == StatusSuccess {
			if err := s.sendInfo(); err != nil {
				return err
			}
		}
		return c.WritePacket(TypeAltSettingStatus, p.ID, []byte{st, intf, 0}, nil)
	case TypeBulkPacket:
		b := c.DecodeBulk(p.Header)
		n := int(b.Endpoint&0x0f) - 1
		if s.cfg != configValue || n < 0 || n >= len(s.pipes) || b.StreamID != 0 {
			b.Status, b.Length = StatusStall, 0
			return c.WritePacket(TypeBulkPacket, p.ID, c.EncodeBulk(b), nil)
		}
		if b.Endpoint&0x80 != 0 {
			s.pipes[n].askIn(p.ID, int(b.Length))
		} else {
			s.pipes[n].queueOut(p.ID, b.Endpoint, p.Data)
		}
		return nil
	case TypeCancelDataPacket:
		for _, pp := range s.pipes {
			if pp.cancel(p.ID) {
				break
			}
		}
		return nil
	case TypeReset, TypeFilterReject, TypeFilterFilter, TypeDeviceDisconnectAck:
		return nil
	case TypeStartISOStream, TypeStopISOStream:
		return c.WritePacket(TypeISOStreamStatus, p.ID, []byte{StatusInval, p.Header[0]}, nil)
	case TypeStartInterruptReceiving, TypeStopInterruptReceiving:
		return c.WritePacket(TypeInterruptReceivingStatus, p.ID, []byte{StatusInval, p.Header[0]}, nil)
	case TypeStartBulkReceiving, TypeStopBulkReceiving:
		ep := p.Header[len(p.Header)-1]
		if p.Type == TypeStartBulkReceiving {
			ep = p.Header[8]
		}
		h := binary.LittleEndian.AppendUint32(nil, binary.LittleEndian.Uint32(p.Header))
		return c.WritePacket(TypeBulkReceivingStatus, p.ID, append(h, ep, StatusInval), nil)
	case TypeAllocBulkStreams, TypeFreeBulkStreams:
		h := append(append([]byte(nil), p.Header[:4]...), 0, 0, 0, 0, StatusInval)
		return c.WritePacket(TypeBulkStreamsStatus, p.ID, h, nil)
	case TypeISOPacket, TypeInterruptPacket:
		// No such endpoints: answered as stalled, with no data.
		h := append([]byte(nil), p.Header...)
		h[1], h[2], h[3] = StatusStall, 0, 0
		return c.WritePacket(p.Type, p.ID, h, nil)
	}
	return protoErr("packet type %d not handled", p.Type)
}

// pipe is one interface's bulk pair and the function behind it.
type pipe struct {
	s  *session
	ep uint8 // IN endpoint
	f  io.ReadWriteCloser

	mu     sync.Mutex // guards the fields below and orders this pipe's replies
	cond   *sync.Cond
	buf    []byte   // the function's output not yet read by the guest
	ins    []inReq  // bulk IN requests waiting for data, oldest first
	outs   []outReq // bulk OUT data not yet taken by the function
	closed bool
}

type inReq struct {
	id uint64
	n  int
}

type outReq struct {
	id   uint64
	ep   uint8
	data []byte
}

func (p *pipe) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.f.Close()
}

// replyLocked writes one bulk reply; callers hold p.mu, so this pipe's
// replies leave in the order their requests came (QEMU completes an
// endpoint's packets in order).
func (p *pipe) replyLocked(id uint64, ep, status uint8, length int, data []byte) {
	c := p.s.c
	if err := c.WritePacket(TypeBulkPacket, id, c.EncodeBulk(Bulk{Endpoint: ep, Status: status, Length: uint32(length)}), data); err != nil {
		// The connection is gone; Serve's read ends with it.
		p.s.log.Debug("usbredir: bulk reply", "endpoint", ep, "err", err)
	}
}

// askIn queues a bulk IN request of up to n bytes.
func (p *pipe) askIn(id uint64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ins = append(p.ins, inReq{id, n})
	p.serveLocked()
}

// serveLocked answers waiting IN requests from the buffer.
func (p *pipe) serveLocked() {
	for len(p.ins) > 0 && len(p.buf) > 0 {
		r := p.ins[0]
		p.ins = p.ins[1:]
		k := min(r.n, len(p.buf))
		p.replyLocked(r.id, p.ep, StatusSuccess, k, p.buf[:k])
		p.buf = p.buf[k:]
		if len(p.buf) == 0 {
			p.buf = nil
		}
	}
	p.cond.Broadcast()
}

// pumpIn reads the function's output into the buffer while there is room.
func (p *pipe) pumpIn() {
	b := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		for len(p.buf) >= maxBuffered && !p.closed {
			p.cond.Wait()
		}
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		n, err := p.f.Read(b)
		p.mu.Lock()
		p.buf = append(p.buf, b[:n]...)
		p.serveLocked()
		p.mu.Unlock()
		if err != nil {
			// The function ended: waiting IN requests stay waiting, as a
			// device with nothing to say NAKs.
			return
		}
	}
}

// queueOut queues a bulk OUT transfer for the function.
func (p *pipe) queueOut(id uint64, ep uint8, data []byte) {
	p.mu.Lock()
	p.outs = append(p.outs, outReq{id, ep, data})
	p.cond.Broadcast()
	p.mu.Unlock()
}

// pumpOut hands OUT data to the function, one transfer at a time, and
// completes each once the function took it.
func (p *pipe) pumpOut() {
	for {
		p.mu.Lock()
		for len(p.outs) == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		r := p.outs[0]
		p.mu.Unlock()
		_, err := p.f.Write(r.data)
		p.mu.Lock()
		if len(p.outs) > 0 && p.outs[0].id == r.id { // not cancelled meanwhile
			p.outs = p.outs[1:]
			if err != nil {
				p.replyLocked(r.id, r.ep, StatusIOError, 0, nil)
			} else {
				p.replyLocked(r.id, r.ep, StatusSuccess, len(r.data), nil)
			}
		}
		p.mu.Unlock()
	}
}

// cancel answers a waiting request id as cancelled; false if this pipe has
// none such (already answered: the guest drops the late answer).
func (p *pipe) cancel(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.ins {
		if r.id == id {
			p.ins = append(p.ins[:i:i], p.ins[i+1:]...)
			p.replyLocked(id, p.ep, StatusCancelled, 0, nil)
			return true
		}
	}
	// An OUT transfer being written (the first) completes as it is; later
	// ones are not yet taken and can go.
	for i := 1; i < len(p.outs); i++ {
		if r := p.outs[i]; r.id == id {
			p.outs = append(p.outs[:i:i], p.outs[i+1:]...)
			p.replyLocked(id, r.ep, StatusCancelled, 0, nil)
			return true
		}
	}
	return false
}
