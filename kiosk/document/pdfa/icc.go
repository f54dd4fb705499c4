package pdfa

import (
	"encoding/binary"
	"math"
)

// SRGBProfile returns a compact ICC v2.1 display profile for sRGB
// (IEC 61966-2.1): D50 white point, Bradford-adapted primaries and the sRGB
// tone curve sampled at 1024 points. It is generated rather than embedded so
// that no third-party profile data (and its licence) travels in every PDF.
func SRGBProfile() []byte {
	const (
		headerLen = 128
		nTags     = 9
	)
	desc := textDescription("sRGB IEC61966-2.1")
	cprt := textTag("No copyright, use freely")
	wtpt := xyzTag(0.9642, 1.0, 0.8249)
	rXYZ := xyzTag(0.4360747, 0.2225045, 0.0139322)
	gXYZ := xyzTag(0.3850649, 0.7168786, 0.0971045)
	bXYZ := xyzTag(0.1430804, 0.0606169, 0.7141733)
	trc := srgbCurve(1024)

	type tag struct {
		sig  string
		data []byte
	}
	// rTRC, gTRC and bTRC share one data block: the ICC spec allows tags to
	// point at the same offset, which keeps the profile small.
	blocks := []tag{{"desc", desc}, {"cprt", cprt}, {"wtpt", wtpt}, {"rXYZ", rXYZ}, {"gXYZ", gXYZ}, {"bXYZ", bXYZ}, {"rTRC", trc}}
	off := headerLen + 4 + 12*nTags
	offsets := map[string][2]int{}
	for _, b := range blocks {
		off = align4(off)
		offsets[b.sig] = [2]int{off, len(b.data)}
		off += len(b.data)
	}
	size := align4(off)
	p := make([]byte, size)
	be := binary.BigEndian
	be.PutUint32(p[0:], uint32(size))
	be.PutUint32(p[8:], 0x02100000) // version 2.1.0
	copy(p[12:], "mntr")
	copy(p[16:], "RGB ")
	copy(p[20:], "XYZ ")
	// Fixed creation date keeps the profile (and so the PDF) reproducible.
	for i, v := range []uint16{2026, 1, 1, 0, 0, 0} {
		be.PutUint16(p[24+2*i:], v)
	}
	copy(p[36:], "acsp")
	be.PutUint32(p[64:], 0) // perceptual intent
	putS15(p[68:], 0.9642)
	putS15(p[72:], 1.0)
	putS15(p[76:], 0.8249)

	be.PutUint32(p[headerLen:], nTags)
	entry := headerLen + 4
	for _, sig := range []string{"desc", "cprt", "wtpt", "rXYZ", "gXYZ", "bXYZ", "rTRC", "gTRC", "bTRC"} {
		src := sig
		if sig == "gTRC" || sig == "bTRC" {
			src = "rTRC"
		}
		o := offsets[src]
		copy(p[entry:], sig)
		be.PutUint32(p[entry+4:], uint32(o[0]))
		be.PutUint32(p[entry+8:], uint32(o[1]))
		entry += 12
	}
	for _, b := range blocks {
		copy(p[offsets[b.sig][0]:], b.data)
	}
	return p
}

func align4(n int) int { return (n + 3) &^ 3 }

func putS15(b []byte, v float64) {
	binary.BigEndian.PutUint32(b, uint32(int32(math.Round(v*65536))))
}

func xyzTag(x, y, z float64) []byte {
	b := make([]byte, 20)
	copy(b, "XYZ ")
	putS15(b[8:], x)
	putS15(b[12:], y)
	putS15(b[16:], z)
	return b
}

func textTag(s string) []byte {
	b := make([]byte, 8+len(s)+1)
	copy(b, "text")
	copy(b[8:], s)
	return b
}

// textDescription builds a v2 textDescriptionType: ASCII part, an empty
// Unicode part and an empty ScriptCode part (67 bytes reserved).
func textDescription(s string) []byte {
	n := len(s) + 1
	b := make([]byte, 12+n+4+4+2+1+67)
	copy(b, "desc")
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	copy(b[12:], s)
	return b
}

// srgbCurve samples the sRGB electro-optical transfer function.
func srgbCurve(n int) []byte {
	b := make([]byte, 12+2*n)
	copy(b, "curv")
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	for i := 0; i < n; i++ {
		v := float64(i) / float64(n-1)
		var lin float64
		if v <= 0.04045 {
			lin = v / 12.92
		} else {
			lin = math.Pow((v+0.055)/1.055, 2.4)
		}
		binary.BigEndian.PutUint16(b[12+2*i:], uint16(math.Round(lin*65535)))
	}
	return b
}
