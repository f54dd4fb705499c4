// Command vmdisk builds the virtual kiosk board's images without root and
// without cpio or sfdisk (make vm):
//
//	vmdisk cpio OUT.cpio DIR
//	    an initramfs: DIR's tree as a newc cpio archive, owned by root
//	vmdisk disk OUT.img NAME=PART.img ...
//	    a disk with an MBR: the partition images in order as primary
//	    partitions (type 0x83), the first starting at 4 MiB, each aligned to
//	    1 MiB; the space before holds the U-Boot environment block at 1 MiB.
//	vmdisk env DISK NAME=VALUE ...
//	    writes a fresh environment (two redundant copies of 16 KiB at 1 MiB
//	    and 1 MiB + 16 KiB, vm/fw_env.config) holding just these variables,
//	    as ota/ubootenv encodes it
//	vmdisk part DISK N PART.img
//	    writes PART.img into partition N (1-4) of DISK, which must hold it
//	    (a test provisions the data partition this way)
//	vmdisk fwd HOST:PORT
//	    copies standard input to a TCP connection to HOST:PORT and back: the
//	    command QEMU's guestfwd=...-cmd: runs for each connection the board
//	    opens to a forwarded address (the host's service on loopback)
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/einwurf/einwurf/ota/ubootenv"
)

// Where the environment's two copies live (vm/boot/env.cmd, vm/fw_env.config).
const (
	envOffset = 0x100000
	envSize   = 0x4000
)

func writeEnv(disk string, pairs []string) error {
	vars := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=VALUE", p)
		}
		vars[k] = v
	}
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// Both copies the same, the first current (flag 1, the second 0).
	for i, flag := range []byte{1, 0} {
		buf, err := ubootenv.Encode(vars, envSize, true, flag)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(buf, envOffset+int64(i)*envSize); err != nil {
			return err
		}
	}
	return f.Close()
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vmdisk:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: vmdisk cpio OUT DIR | vmdisk disk OUT NAME=PART...")
	}
	switch args[0] {
	case "cpio":
		return writeCpio(args[1], args[2])
	case "disk":
		return writeDisk(args[1], args[2:])
	case "env":
		return writeEnv(args[1], args[2:])
	case "part":
		if len(args) != 4 {
			return errors.New("usage: vmdisk part DISK N PART.img")
		}
		return writePart(args[1], args[2], args[3])
	case "fwd":
		return forward(args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func writeCpio(out, dir string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	var paths []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	ino := 1
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var body []byte
		mode := uint32(fi.Mode().Perm())
		switch {
		case fi.IsDir():
			mode |= 0o040000
		case fi.Mode()&fs.ModeSymlink != 0:
			mode |= 0o120000
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			body = []byte(t)
		case fi.Mode().IsRegular():
			mode |= 0o100000
			if body, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported file type", p)
		}
		if err := cpioEntry(f, ino, rel, mode, body); err != nil {
			return err
		}
		ino++
	}
	if err := cpioEntry(f, 0, "TRAILER!!!", 0, nil); err != nil {
		return err
	}
	return f.Close()
}

func cpioEntry(w io.Writer, ino int, name string, mode uint32, body []byte) error {
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(body), 0, 0, 0, 0, len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, body...)
	buf = pad4(buf)
	_, err := w.Write(buf)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

const (
	sector   = 512
	firstLBA = 4 << 20 / sector
	align    = 1 << 20 / sector
)

func writeDisk(out string, parts []string) error {
	if len(parts) > 4 {
		return errors.New("at most 4 primary partitions")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	mbr := make([]byte, sector)
	lba := int64(firstLBA)
	for i, p := range parts {
		_, path, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=FILE", p)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		fi, err := src.Stat()
		if err != nil {
			src.Close()
			return err
		}
		n := (fi.Size() + sector - 1) / sector
		if _, err := f.Seek(lba*sector, io.SeekStart); err != nil {
			src.Close()
			return err
		}
		_, err = io.Copy(f, src)
		src.Close()
		if err != nil {
			return err
		}
		e := mbr[446+16*i : 446+16*(i+1)]
		if i == 0 {
			e[0] = 0x80 // the boot partition is the one U-Boot's distro boot scans
		}
		copy(e[1:4], []byte{0xfe, 0xff, 0xff})
		e[4] = 0x83
		copy(e[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(e[8:], uint32(lba))
		binary.LittleEndian.PutUint32(e[12:], uint32(n))
		lba = (lba + n + align - 1) / align * align
	}
	mbr[510], mbr[511] = 0x55, 0xaa
	binary.LittleEndian.PutUint32(mbr[440:], 0x45494e57) // disk signature "EINW"
	if _, err := f.WriteAt(mbr, 0); err != nil {
		return err
	}
	if err := f.Truncate(lba * sector); err != nil {
		return err
	}
	return f.Close()
}

// partition returns partition n's (1-4) start and length in bytes.
func partition(f *os.File, n int) (start, length int64, err error) {
	if n < 1 || n > 4 {
		return 0, 0, fmt.Errorf("partition %d: want 1-4", n)
	}
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return 0, 0, err
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return 0, 0, errors.New("no MBR")
	}
	e := mbr[446+16*(n-1):]
	start = int64(binary.LittleEndian.Uint32(e[8:])) * sector
	length = int64(binary.LittleEndian.Uint32(e[12:])) * sector
	if length == 0 {
		return 0, 0, fmt.Errorf("partition %d is empty", n)
	}
	return start, length, nil
}

func writePart(disk, num, img string) error {
	var n int
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil {
		return fmt.Errorf("partition %q: %w", num, err)
	}
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	start, length, err := partition(f, n)
	if err != nil {
		return err
	}
	src, err := os.Open(img)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > length {
		return fmt.Errorf("%s: %d bytes, partition %d holds %d", img, fi.Size(), n, length)
	}
	if _, err := io.Copy(io.NewOffsetWriter(f, start), src); err != nil {
		return err
	}
	return f.Close()
}

// forward joins standard input and output to a TCP connection to addr
// until either side ends (at most 10 s to connect).
func forward(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(os.Stdout, c)
		done <- struct{}{}
	}()
	<-done
	return nil
}
