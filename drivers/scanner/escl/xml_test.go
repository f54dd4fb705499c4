package escl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
)

// capsHP is shaped like an HP MFP's answer: formats in pwg:, resolutions
// discrete, a platen and a duplex feeder.
const capsHP = `<?xml version="1.0" encoding="UTF-8"?>
<scan:ScannerCapabilities xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm" xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03">
<pwg:Version>2.63</pwg:Version><pwg:MakeAndModel>HP Color LaserJet MFP M479fdw</pwg:MakeAndModel><pwg:SerialNumber>CNB1234</pwg:SerialNumber>
<scan:Platen><scan:PlatenInputCaps><scan:MinWidth>8</scan:MinWidth><scan:MaxWidth>2550</scan:MaxWidth><scan:MinHeight>8</scan:MinHeight><scan:MaxHeight>3508</scan:MaxHeight>
<scan:SettingProfiles><scan:SettingProfile><scan:ColorModes><scan:ColorMode>RGB24</scan:ColorMode><scan:ColorMode>Grayscale8</scan:ColorMode></scan:ColorModes>
<scan:DocumentFormats><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat><pwg:DocumentFormat>application/pdf</pwg:DocumentFormat></scan:DocumentFormats>
<scan:SupportedResolutions><scan:DiscreteResolutions><scan:DiscreteResolution><scan:XResolution>300</scan:XResolution><scan:YResolution>300</scan:YResolution></scan:DiscreteResolution>
<scan:DiscreteResolution><scan:XResolution>200</scan:XResolution><scan:YResolution>100</scan:YResolution></scan:DiscreteResolution></scan:DiscreteResolutions></scan:SupportedResolutions>
</scan:SettingProfile></scan:SettingProfiles></scan:PlatenInputCaps></scan:Platen>
<scan:Adf><scan:AdfDuplexInputCaps><scan:MinWidth>8</scan:MinWidth><scan:MaxWidth>2550</scan:MaxWidth><scan:MinHeight>8</scan:MinHeight><scan:MaxHeight>4200</scan:MaxHeight>
<scan:SettingProfiles><scan:SettingProfile><scan:ColorModes><scan:ColorMode>RGB24</scan:ColorMode><scan:ColorMode>BlackAndWhite1</scan:ColorMode></scan:ColorModes>
<scan:DocumentFormats><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat><scan:DocumentFormatExt>application/pdf</scan:DocumentFormatExt></scan:DocumentFormats>
<scan:SupportedResolutions><scan:ResolutionRange><scan:XResolution><scan:Min>100</scan:Min><scan:Max>600</scan:Max><scan:Step>50</scan:Step></scan:XResolution>
<scan:YResolution><scan:Min>100</scan:Min><scan:Max>600</scan:Max><scan:Step>50</scan:Step></scan:YResolution></scan:ResolutionRange></scan:SupportedResolutions>
</scan:SettingProfile></scan:SettingProfiles></scan:AdfDuplexInputCaps><scan:AdfOptions><scan:AdfOption>Duplex</scan:AdfOption></scan:AdfOptions></scan:Adf>
</scan:ScannerCapabilities>`

// capsSwapped puts elements in the other namespace, as some firmware does
// (scan:MakeAndModel, scan:DocumentFormat, pwg:ColorMode), and uses other
// prefixes.
const capsSwapped = `<?xml version="1.0" encoding="utf8"?>
<e:ScannerCapabilities xmlns:e="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:p="http://www.pwg.org/schemas/2010/12/sm">
<e:MakeAndModel>Brother ADS-4700W</e:MakeAndModel>
<e:Adf><e:AdfSimplexInputCaps><e:SettingProfiles><e:SettingProfile>
<e:ColorModes><p:ColorMode> Grayscale8 </p:ColorMode></e:ColorModes>
<e:DocumentFormats><e:DocumentFormat>IMAGE/JPEG</e:DocumentFormat></e:DocumentFormats>
<e:SupportedResolutions><e:DiscreteResolutions><e:DiscreteResolution><p:XResolution>150</p:XResolution><p:YResolution>150</p:YResolution></e:DiscreteResolution></e:DiscreteResolutions></e:SupportedResolutions>
</e:SettingProfile></e:SettingProfiles></e:AdfSimplexInputCaps></e:Adf>
</e:ScannerCapabilities>`

func TestParseCapabilities(t *testing.T) {
	c, err := escl.ParseCapabilities(strings.NewReader(capsHP))
	if err != nil {
		t.Fatal(err)
	}
	if c.MakeAndModel != "HP Color LaserJet MFP M479fdw" || c.Platen == nil || c.AdfDuplex == nil || c.AdfSimplex != nil {
		t.Fatalf("parsed %+v", c)
	}
	if got := fmt.Sprint(c.Platen.Resolutions()); got != "[300]" {
		t.Errorf("platen resolutions %s (200x100 must be left out)", got)
	}
	if got := fmt.Sprint(c.AdfDuplex.Resolutions()); got != "[100 150 200 300 400 600]" {
		t.Errorf("range resolutions %s", got)
	}
	if got := fmt.Sprint(c.AdfDuplex.Formats()); got != "[image/jpeg application/pdf]" {
		t.Errorf("formats %s", got)
	}
	if got := fmt.Sprint(c.AdfDuplex.ColorModes()); got != "[RGB24 BlackAndWhite1]" {
		t.Errorf("modes %s", got)
	}

	c, err = escl.ParseCapabilities(strings.NewReader(capsSwapped))
	if err != nil {
		t.Fatal(err)
	}
	if c.MakeAndModel != "Brother ADS-4700W" || c.AdfSimplex == nil {
		t.Fatalf("parsed %+v", c)
	}
	if fmt.Sprint(c.AdfSimplex.ColorModes(), c.AdfSimplex.Formats(), c.AdfSimplex.Resolutions()) != "[Grayscale8] [image/jpeg] [150]" {
		t.Errorf("swapped namespaces: %v %v %v", c.AdfSimplex.ColorModes(), c.AdfSimplex.Formats(), c.AdfSimplex.Resolutions())
	}
}

func TestParseCapabilitiesRejects(t *testing.T) {
	src := `<scan:Adf><scan:AdfSimplexInputCaps><scan:SettingProfiles><scan:SettingProfile>%s</scan:SettingProfile></scan:SettingProfiles></scan:AdfSimplexInputCaps></scan:Adf>`
	modes := `<scan:ColorModes><scan:ColorMode>RGB24</scan:ColorMode></scan:ColorModes>`
	formats := `<scan:DocumentFormats><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat></scan:DocumentFormats>`
	res := `<scan:SupportedResolutions><scan:DiscreteResolutions><scan:DiscreteResolution><scan:XResolution>300</scan:XResolution><scan:YResolution>300</scan:YResolution></scan:DiscreteResolution></scan:DiscreteResolutions></scan:SupportedResolutions>`
	wrap := func(body string) string {
		return `<scan:ScannerCapabilities xmlns:scan="` + escl.NSScan + `" xmlns:pwg="` + escl.NSPWG + `">` + body + `</scan:ScannerCapabilities>`
	}
	if _, err := escl.ParseCapabilities(strings.NewReader(wrap(fmt.Sprintf(src, modes+formats+res)))); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	for name, doc := range map[string]string{
		"empty":          "",
		"not xml":        "HTTP/1.1 200 OK",
		"wrong root":     `<scan:ScannerStatus xmlns:scan="` + escl.NSScan + `"><pwg:State>Idle</pwg:State></scan:ScannerStatus>`,
		"foreign ns":     `<x:ScannerCapabilities xmlns:x="urn:other">` + fmt.Sprintf(src, modes+formats+res) + `</x:ScannerCapabilities>`,
		"no source":      wrap(`<pwg:MakeAndModel>X</pwg:MakeAndModel>`),
		"no modes":       wrap(fmt.Sprintf(src, formats+res)),
		"no formats":     wrap(fmt.Sprintf(src, modes+res)),
		"no resolutions": wrap(fmt.Sprintf(src, modes+formats)),
		"truncated":      wrap(fmt.Sprintf(src, modes+formats+res))[:200],
		"bad number":     wrap(strings.Replace(fmt.Sprintf(src, modes+formats+res), ">300<", ">three<", 1)),
		"min above max":  wrap(strings.Replace(fmt.Sprintf(src, modes+formats+res), "<scan:SettingProfiles>", "<scan:MinWidth>900</scan:MinWidth><scan:MaxWidth>100</scan:MaxWidth><scan:SettingProfiles>", 1)),
		"charset":        `<?xml version="1.0" encoding="EBCDIC"?>` + wrap(fmt.Sprintf(src, modes+formats+res)),
		"too large":      wrap(strings.Repeat("<pwg:Version>2</pwg:Version>", 50000) + fmt.Sprintf(src, modes+formats+res)),
	} {
		if _, err := escl.ParseCapabilities(strings.NewReader(doc)); !errors.Is(err, escl.ErrXML) {
			t.Errorf("%s: %v, want ErrXML", name, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, doc := range []string{
		// pwg:State, as the specification has it.
		`<?xml version="1.0"?><scan:ScannerStatus xmlns:scan="` + escl.NSScan + `" xmlns:pwg="` + escl.NSPWG + `"><pwg:Version>2.0</pwg:Version><pwg:State>Processing</pwg:State><scan:AdfState>ScannerAdfJam</scan:AdfState>
<scan:Jobs><scan:JobInfo><pwg:JobUri>/eSCL/ScanJobs/abc</pwg:JobUri><pwg:JobUuid>abc</pwg:JobUuid><scan:Age>3</scan:Age><pwg:ImagesCompleted>2</pwg:ImagesCompleted><pwg:JobState>Aborted</pwg:JobState>
<pwg:JobStateReasons><pwg:JobStateReason>AdfJam</pwg:JobStateReason></pwg:JobStateReasons></scan:JobInfo></scan:Jobs></scan:ScannerStatus>`,
		// scan:State and a pwg: root, as some firmware sends.
		`<pwg:ScannerStatus xmlns:scan="` + escl.NSScan + `" xmlns:pwg="` + escl.NSPWG + `"><scan:State> Processing </scan:State><scan:AdfState>ScannerAdfJam</scan:AdfState>
<scan:Jobs><scan:JobInfo><pwg:JobUri>http://192.0.2.1/eSCL/ScanJobs/abc/</pwg:JobUri><pwg:JobState>Aborted</pwg:JobState></scan:JobInfo></scan:Jobs></pwg:ScannerStatus>`,
	} {
		st, err := escl.ParseStatus(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "Processing" || st.AdfState != "ScannerAdfJam" {
			t.Errorf("status %+v", st)
		}
		if ji := st.Job("/eSCL/ScanJobs/abc"); ji == nil || ji.JobState != "Aborted" {
			t.Errorf("job lookup: %+v", ji)
		}
		if st.Job("/eSCL/ScanJobs/other") != nil {
			t.Error("found a job that is not there")
		}
	}
	for name, doc := range map[string]string{
		"no state":   `<scan:ScannerStatus xmlns:scan="` + escl.NSScan + `"><scan:AdfState>ScannerAdfJam</scan:AdfState></scan:ScannerStatus>`,
		"wrong root": `<scan:ScannerCapabilities xmlns:scan="` + escl.NSScan + `"/>`,
		"garbage":    "\x00\x01\x02",
		"unclosed":   `<scan:ScannerStatus xmlns:scan="` + escl.NSScan + `"><pwg:State>Idle`,
	} {
		if _, err := escl.ParseStatus(strings.NewReader(doc)); !errors.Is(err, escl.ErrXML) {
			t.Errorf("%s: %v, want ErrXML", name, err)
		}
	}
}

func TestAdfError(t *testing.T) {
	for state, want := range map[string]error{
		"ScannerAdfJam":                scanner.ErrJam,
		"ScannerAdfMispick":            scanner.ErrJam,
		"ScannerAdfMultipickDetected":  scanner.ErrDoubleFeed,
		"ScannerAdfHatchOpen":          scanner.ErrCoverOpen,
		"ScannerAdfDoorOpen":           scanner.ErrCoverOpen,
		"ScannerAdfEmpty":              scanner.ErrFeederEmpty,
		"ScannerAdfDuplexPageTooLong":  scanner.ErrPageTooLong,
		"ScannerAdfDuplexPageTooShort": scanner.ErrJam,
		"ScannerAdfLoaded":             nil,
		"ScannerAdfProcessing":         nil,
		"":                             nil,
	} {
		if got := escl.AdfError(state); got != want {
			t.Errorf("AdfError(%q) = %v, want %v", state, got, want)
		}
	}
}

func FuzzParseCapabilities(f *testing.F) {
	f.Add([]byte(capsHP))
	f.Add([]byte(capsSwapped))
	f.Add([]byte(`<scan:ScannerCapabilities xmlns:scan="` + escl.NSScan + `"/>`))
	f.Add([]byte("<a><b></a>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := escl.ParseCapabilities(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, escl.ErrXML) {
				t.Fatalf("error not ErrXML: %v", err)
			}
			if c != nil {
				t.Fatal("result with error")
			}
			return
		}
		// What the parser accepts, the client can use.
		for _, ic := range []*escl.InputCaps{c.Platen, c.AdfSimplex, c.AdfDuplex} {
			if ic != nil && (len(ic.ColorModes()) == 0 || len(ic.Formats()) == 0 || len(ic.Resolutions()) == 0) {
				t.Fatalf("accepted an unusable source: %+v", ic)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(`<scan:ScannerStatus xmlns:scan="` + escl.NSScan + `" xmlns:pwg="` + escl.NSPWG + `"><pwg:State>Idle</pwg:State><scan:AdfState>ScannerAdfLoaded</scan:AdfState></scan:ScannerStatus>`))
	f.Add([]byte(`<pwg:ScannerStatus xmlns:pwg="` + escl.NSPWG + `"><scan:State>Down</scan:State><scan:Jobs><scan:JobInfo><pwg:JobUri>/x</pwg:JobUri></scan:JobInfo></scan:Jobs></pwg:ScannerStatus>`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := escl.ParseStatus(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, escl.ErrXML) {
				t.Fatalf("error not ErrXML: %v", err)
			}
			return
		}
		if st.State == "" {
			t.Fatal("accepted a status without State")
		}
		_ = st.Job("/eSCL/ScanJobs/1")
		_ = escl.AdfError(st.AdfState)
	})
}
