package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"
)

// Count formats n with thousands separators: 1234567 is "1,234,567".
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Compact formats n briefly: 950, 13.5k, 2.73M, 1.20G.
func Compact(n float64) string {
	switch a := max(n, -n); {
	case a < 1000:
		return fmt.Sprintf("%.0f", n)
	case a < 1e6:
		return trimDigits(n/1e3) + "k"
	case a < 1e9:
		return trimDigits(n/1e6) + "M"
	default:
		return trimDigits(n/1e9) + "G"
	}
}

// trimDigits keeps three significant digits.
func trimDigits(x float64) string {
	switch a := max(x, -x); {
	case a < 10:
		return fmt.Sprintf("%.2f", x)
	case a < 100:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

// Percent formats a percent with one decimal; nil is "unknown".
func Percent(p *float64) string {
	if p == nil {
		return "unknown"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64) + "%"
}

// Bytes formats a byte count in binary units: "512 B", "1.5 KiB", "3.2 GiB".
func Bytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// Duration formats d briefly, to the second above a minute: "850ms", "42s", "3m07s",
// "2h05m", "3d04h".
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	default:
		d = d.Round(time.Hour)
		return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
}

// age is Duration to the second: "<1s" below one.
func age(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return Duration(d)
}

// millis formats a latency in milliseconds: "0ms", "12ms", "1.5s", "2m03s".
func millis(ms float64) string {
	if ms < 1000 {
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	}
	if ms < 10_000 {
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	}
	return Duration(time.Duration(ms * float64(time.Millisecond)))
}

// cells is the number of terminal columns s takes: East Asian wide and fullwidth runes take
// two, control characters none (the renderer removes them).
func cells(s string) int {
	n := 0
	for _, r := range s {
		n += runeCells(r)
	}
	return n
}

func runeCells(r rune) int {
	if r < 0x20 || r == 0x7f {
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// truncate shortens s to at most n columns, ending in "..." when it cut.
func truncate(s string, n int) string {
	if cells(s) <= n {
		return s
	}
	if n <= 3 {
		return strings.Repeat(".", max(n, 0))
	}
	var b strings.Builder
	w := 0
	for _, r := range s {
		c := runeCells(r)
		if w+c > n-3 {
			break
		}
		b.WriteRune(r)
		w += c
	}
	return b.String() + "..."
}

// clean makes s one line of printable text: control characters (newlines, escapes) become
// spaces and runs of spaces one.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
