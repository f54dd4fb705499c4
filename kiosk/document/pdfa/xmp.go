package pdfa

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"fmt"
)

// xmlEscape escapes s for XML character data.
func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// docUUID renders the id as a UUID URN when it has UUID length, else as
// plain hex under a urn of our own; both are valid xmpMM identifiers.
func docUUID(id []byte) string {
	h := hex.EncodeToString(id)
	if len(id) == 16 {
		return fmt.Sprintf("uuid:%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
	}
	return "urn:einwurf:doc:" + h
}

// buildXMP returns the XMP packet: PDF/A identification (part 2,
// conformance B) and the same title, producer and dates as the Info
// dictionary.
func buildXMP(info Info, id []byte) []byte {
	date := info.Created.UTC().Format("2006-01-02T15:04:05") + "+00:00"
	uid := docUUID(id)
	var b bytes.Buffer
	b.WriteString("<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString(`<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about=""
 xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
 xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">
<pdfaid:part>2</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
`)
	fmt.Fprintf(&b, "<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">%s</rdf:li></rdf:Alt></dc:title>\n", xmlEscape(info.Title))
	b.WriteString("<dc:format>application/pdf</dc:format>\n")
	fmt.Fprintf(&b, "<xmp:CreateDate>%s</xmp:CreateDate>\n<xmp:ModifyDate>%s</xmp:ModifyDate>\n<xmp:MetadataDate>%s</xmp:MetadataDate>\n", date, date, date)
	fmt.Fprintf(&b, "<xmp:CreatorTool>%s</xmp:CreatorTool>\n<pdf:Producer>%s</pdf:Producer>\n", xmlEscape(info.Producer), xmlEscape(info.Producer))
	fmt.Fprintf(&b, "<xmpMM:DocumentID>%s</xmpMM:DocumentID>\n<xmpMM:InstanceID>%s</xmpMM:InstanceID>\n", uid, uid)
	b.WriteString("</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n")
	// Padding lets tools update the packet in place, as XMP recommends.
	b.Write(bytes.Repeat([]byte("                                                                               \n"), 20))
	b.WriteString("<?xpacket end=\"w\"?>")
	return b.Bytes()
}
