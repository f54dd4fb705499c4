// Package ubootenv reads and writes the U-Boot environment from Linux, as
// fw_printenv and fw_setenv (libubootenv) do: the fw_env.config format, one
// or two (redundant) copies, each a CRC-32 over its data, the redundant
// copies ordered by an incrementing flag byte.
//
// A change is written to the copy that is not current, with the next flag,
// and synced; only when that write is complete does it become current. A
// power cut during the write leaves the other copy, still valid, current.
package ubootenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/einwurf/einwurf/ota/durable"
)

// Errors of the environment.
var (
	// ErrConfig is returned for a malformed fw_env.config.
	ErrConfig = errors.New("ubootenv: bad fw_env.config")
	// ErrNoValidCopy is returned when no copy of the environment has a
	// valid CRC.
	ErrNoValidCopy = errors.New("ubootenv: no valid environment copy")
	// ErrMalformed is returned for an environment whose data does not parse.
	ErrMalformed = errors.New("ubootenv: malformed environment")
	// ErrTooLarge is returned when variables do not fit the environment.
	ErrTooLarge = errors.New("ubootenv: environment too large")
	// ErrName is returned for a variable name U-Boot cannot store.
	ErrName = errors.New("ubootenv: bad variable name")
)

// MaxSize bounds the size of one environment copy this package handles.
const MaxSize = 1 << 20

// Location is one line of fw_env.config: where one copy lives.
type Location struct {
	Device     string
	Offset     int64
	Size       int64
	SectorSize int64 // 0 if not given
	Sectors    int64 // 0 if not given
}

// Config is a parsed fw_env.config: one copy, or two for a redundant
// environment.
type Config struct {
	Copies []Location
}

// Redundant reports whether the environment has two copies.
func (c Config) Redundant() bool { return len(c.Copies) == 2 }

// ParseConfig parses the fw_env.config format: lines of "device offset
// size [sector-size [sectors]]", numbers in C notation (0x…), '#' comments.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 4096)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		f := strings.Fields(s)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 || len(f) > 5 {
			return Config{}, fmt.Errorf("%w: line %d: want device, offset, size", ErrConfig, line)
		}
		var l Location
		l.Device = f[0]
		nums := make([]int64, 4)
		for i, v := range f[1:] {
			n, err := strconv.ParseInt(v, 0, 64)
			if err != nil || n < 0 {
				return Config{}, fmt.Errorf("%w: line %d: bad number %q", ErrConfig, line, v)
			}
			nums[i] = n
		}
		l.Offset, l.Size, l.SectorSize, l.Sectors = nums[0], nums[1], nums[2], nums[3]
		if l.Size < 8 || l.Size > MaxSize {
			return Config{}, fmt.Errorf("%w: line %d: size %d out of range", ErrConfig, line, l.Size)
		}
		c.Copies = append(c.Copies, l)
		if len(c.Copies) > 2 {
			return Config{}, fmt.Errorf("%w: more than two copies", ErrConfig)
		}
	}
	if err := sc.Err(); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if len(c.Copies) == 0 {
		return Config{}, fmt.Errorf("%w: no device", ErrConfig)
	}
	if c.Redundant() && c.Copies[0].Size != c.Copies[1].Size {
		return Config{}, fmt.Errorf("%w: copies differ in size", ErrConfig)
	}
	return c, nil
}

// header is the number of bytes before the variables: CRC, and the flag
// byte of a redundant copy.
func header(redundant bool) int {
	if redundant {
		return 5
	}
	return 4
}

// Decode parses one copy of the environment: its CRC, flag (redundant only)
// and variables. It fails with ErrNoValidCopy on a CRC mismatch.
func Decode(buf []byte, redundant bool) (vars map[string]string, flag byte, err error) {
	h := header(redundant)
	if len(buf) < h+2 {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrMalformed, len(buf))
	}
	data := buf[h:]
	if crc32.ChecksumIEEE(data) != leUint32(buf) {
		return nil, 0, fmt.Errorf("%w: CRC mismatch", ErrNoValidCopy)
	}
	if redundant {
		flag = buf[4]
	}
	vars = map[string]string{}
	for len(data) > 0 && data[0] != 0 {
		i := bytes.IndexByte(data, 0)
		if i < 0 {
			return nil, 0, fmt.Errorf("%w: unterminated variable", ErrMalformed)
		}
		name, value, ok := strings.Cut(string(data[:i]), "=")
		if !ok || !validName(name) {
			return nil, 0, fmt.Errorf("%w: bad entry", ErrMalformed)
		}
		vars[name] = value
		data = data[i+1:]
	}
	if len(data) == 0 {
		return nil, 0, fmt.Errorf("%w: no terminator", ErrMalformed)
	}
	return vars, flag, nil
}

// Encode builds one copy of size bytes holding vars, sorted by name.
func Encode(vars map[string]string, size int, redundant bool, flag byte) ([]byte, error) {
	h := header(redundant)
	buf := make([]byte, size)
	names := make([]string, 0, len(vars))
	for n, v := range vars {
		if !validName(n) || strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("%w: %q", ErrName, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	p := h
	for _, n := range names {
		e := n + "=" + vars[n]
		if p+len(e)+2 > size {
			return nil, ErrTooLarge
		}
		p += copy(buf[p:], e)
		buf[p] = 0
		p++
	}
	// buf[p] is already 0: the list's terminator; the rest stays 0.
	if redundant {
		buf[4] = flag
	}
	putLeUint32(buf, crc32.ChecksumIEEE(buf[h:]))
	return buf, nil
}

func validName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "=\x00") && len(n) < 256
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func putLeUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// newer reports whether flag a is newer than flag b, as U-Boot orders
// incrementing flags (255 wraps to 0).
func newer(a, b byte) bool {
	switch {
	case a == 0 && b == 255:
		return true
	case a == 255 && b == 0:
		return false
	}
	return a > b
}

// Env is an opened environment. It is not safe for concurrent use.
type Env struct {
	fs      durable.FS
	cfg     Config
	vars    map[string]string
	current int  // index of the current copy
	flag    byte // flag of the current copy
}

// Open reads the environment described by cfg. With two copies, the valid
// one with the newer flag is current.
func Open(cfg Config) (*Env, error) { return OpenFS(durable.OS{}, cfg) }

// OpenFS is Open on a file system of the caller's.
func OpenFS(fsys durable.FS, cfg Config) (*Env, error) {
	e := &Env{fs: fsys, cfg: cfg, current: -1}
	var firstErr error
	for i, l := range cfg.Copies {
		buf, err := readCopy(fsys, l)
		if err == nil {
			var vars map[string]string
			var flag byte
			vars, flag, err = Decode(buf, cfg.Redundant())
			if err == nil {
				if e.current < 0 || newer(flag, e.flag) {
					e.vars, e.flag, e.current = vars, flag, i
				}
				continue
			}
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("copy %d: %w", i, err)
		}
	}
	if e.current < 0 {
		return nil, fmt.Errorf("%w: %v", ErrNoValidCopy, firstErr)
	}
	return e, nil
}

// Create writes a fresh environment holding vars to every copy (flag 1 on
// the first copy, 0 on the second, so the first is current).
func Create(cfg Config, vars map[string]string) (*Env, error) {
	return CreateFS(durable.OS{}, cfg, vars)
}

// CreateFS is Create on a file system of the caller's; the devices are
// created when missing.
func CreateFS(fsys durable.FS, cfg Config, vars map[string]string) (*Env, error) {
	for i := len(cfg.Copies) - 1; i >= 0; i-- {
		buf, err := Encode(vars, int(cfg.Copies[i].Size), cfg.Redundant(), byte(1-i))
		if err != nil {
			return nil, err
		}
		if err := writeCopy(fsys, cfg.Copies[i], buf, true); err != nil {
			return nil, err
		}
		if err := fsys.SyncDir(filepath.Dir(cfg.Copies[i].Device)); err != nil {
			return nil, err
		}
	}
	return OpenFS(fsys, cfg)
}

func readCopy(fsys durable.FS, l Location) ([]byte, error) {
	f, err := fsys.OpenFile(l.Device, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, l.Size)
	if _, err := f.ReadAt(buf, l.Offset); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: device shorter than the environment", ErrMalformed)
		}
		return nil, err
	}
	return buf, nil
}

func writeCopy(fsys durable.FS, l Location, buf []byte, create bool) error {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := fsys.OpenFile(l.Device, flag)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(buf, l.Offset); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Get returns a variable's value.
func (e *Env) Get(name string) (string, bool) {
	v, ok := e.vars[name]
	return v, ok
}

// All returns a copy of every variable.
func (e *Env) All() map[string]string {
	m := make(map[string]string, len(e.vars))
	for k, v := range e.vars {
		m[k] = v
	}
	return m
}

// Set changes several variables in one write: a value of "" deletes its
// variable, as fw_setenv does. With two copies the write goes to the copy
// that is not current; on any error the environment is unchanged.
func (e *Env) Set(changes map[string]string) error {
	vars := e.All()
	for k, v := range changes {
		if !validName(k) {
			return fmt.Errorf("%w: %q", ErrName, k)
		}
		if v == "" {
			delete(vars, k)
		} else {
			vars[k] = v
		}
	}
	target, flag := 0, byte(0)
	if e.cfg.Redundant() {
		target, flag = 1-e.current, e.flag+1
	}
	buf, err := Encode(vars, int(e.cfg.Copies[target].Size), e.cfg.Redundant(), flag)
	if err != nil {
		return err
	}
	if err := writeCopy(e.fs, e.cfg.Copies[target], buf, false); err != nil {
		return err
	}
	e.vars, e.current, e.flag = vars, target, flag
	return nil
}
