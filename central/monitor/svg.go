package monitor

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/store"
)

// plot is one of a kiosk's charts, drawn on the server as SVG.
type plot struct {
	metric, title, unit string
	// bucket, when set, turns a cumulative counter into increments per
	// bucket (deliveries per hour, pages per day), drawn as bars.
	bucket time.Duration
}

func kioskPlots() []plot {
	return []plot{
		{metric: MetricBacklog, title: "Documents waiting", unit: "documents"},
		{metric: MetricSent, title: "Deliveries per hour", unit: "documents", bucket: time.Hour},
		{metric: MetricPages, title: "Pages per day", unit: "pages", bucket: 24 * time.Hour},
		{metric: MetricTemperature, title: "Temperature", unit: "°C"},
	}
}

const (
	plotW, plotH           = 420, 180
	padL, padR, padT, padB = 48, 10, 26, 28
	innerW, innerH         = plotW - padL - padR, plotH - padT - padB
)

type point struct {
	t time.Time
	v float64
}

// increments turns cumulative samples into the sum of increases per
// bucket; a drop (the kiosk's counter restarted) counts from zero.
func increments(ss []store.Sample, bucket time.Duration) []point {
	var out []point
	for i := 1; i < len(ss); i++ {
		d := ss[i].Value - ss[i-1].Value
		if d < 0 {
			d = ss[i].Value
		}
		b := ss[i].Time.Truncate(bucket)
		if n := len(out); n > 0 && out[n-1].t.Equal(b) {
			out[n-1].v += d
		} else {
			out = append(out, point{b, d})
		}
	}
	return out
}

// draw returns the chart as inline SVG with a text alternative.
func (p plot) draw(ss []store.Sample, from, to time.Time) template.HTML {
	var pts []point
	if p.bucket > 0 {
		pts = increments(ss, p.bucket)
	} else {
		for _, s := range ss {
			pts = append(pts, point{s.Time, s.Value})
		}
	}
	lo, hi := 0.0, 1.0
	for i, pt := range pts {
		if i == 0 && p.bucket == 0 && p.metric == MetricTemperature {
			lo, hi = pt.v, pt.v
		}
		lo, hi = math.Min(lo, pt.v), math.Max(hi, pt.v)
	}
	if hi-lo < 1 {
		hi = lo + 1
	}
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return padL + innerW*math.Max(0, math.Min(1, t.Sub(from).Seconds()/span)) }
	y := func(v float64) float64 { return padT + innerH*(1-(v-lo)/(hi-lo)) }
	var b strings.Builder
	desc := p.summary(pts)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="pl-%s-t pl-%s-d">`,
		plotW, plotH, plotW, plotH, p.metric, p.metric)
	fmt.Fprintf(&b, `<title id="pl-%s-t">%s</title><desc id="pl-%s-d">%s</desc>`, p.metric, template.HTMLEscapeString(p.title),
		p.metric, template.HTMLEscapeString(desc))
	fmt.Fprintf(&b, `<text x="%d" y="17" font-size="14" font-weight="600" fill="#1a1a1a">%s (%s)</text>`, padL, template.HTMLEscapeString(p.title), template.HTMLEscapeString(p.unit))
	// axes and grid
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d0d0d0"/>`, padL, plotW-padR, yy, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#4a4a4a">%s</text>`, padL-4, yy+4, num(v))
	}
	for d := 0; d < 7; d++ { // a label per day; the right edge is now
		t := from.Add(time.Duration(d) * to.Sub(from) / 7)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#4a4a4a">%s</text>`, x(t), plotH-8, t.UTC().Format("02.01."))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#4a4a4a">now</text>`, plotW-padR, plotH-8)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#4a4a4a"/>`, padL, plotW-padR, padT+innerH, padT+innerH)
	if len(pts) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" fill="#4a4a4a">no data yet</text>`, padL+innerW/2, padT+innerH/2)
	} else if p.bucket > 0 {
		w := math.Max(1.5, innerW*p.bucket.Seconds()/span-1)
		for _, pt := range pts {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#0b4f8a"/>`, x(pt.t), y(pt.v), w, y(lo)-y(pt.v))
		}
	} else {
		b.WriteString(`<polyline fill="none" stroke="#0b4f8a" stroke-width="2" points="`)
		for _, pt := range pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(pt.t), y(pt.v))
		}
		b.WriteString(`"/>`)
		if len(pts) < 30 {
			for _, pt := range pts {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#0b4f8a"/>`, x(pt.t), y(pt.v))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (p plot) summary(pts []point) string {
	if len(pts) == 0 {
		return "No data in this period."
	}
	lo, hi, last := pts[0].v, pts[0].v, pts[len(pts)-1]
	for _, pt := range pts {
		lo, hi = math.Min(lo, pt.v), math.Max(hi, pt.v)
	}
	return fmt.Sprintf("%d points; lowest %s, highest %s, latest %s %s at %s.", len(pts), num(lo), num(hi), num(last.v), p.unit, when(last.t))
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
