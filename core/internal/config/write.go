package config

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// WriteDiagnostics renders diagnostics as text, like hcl's text writer: "Error: summary",
// "  on FILE:LINE:COLUMN, in BLOCK:", the source lines with the subject highlighted (when color
// is set), then the detail. f supplies the source text of the pipeline file and of its
// templates (nil: no snippets); the text of secret expressions is printed as *** and known
// secret values are scrubbed everywhere. Variable values are never printed.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, f *File, color bool) error {
	sec := f.secrets()
	scrub := scrubber(sec.values)
	ranges := append([]hcl.Range(nil), sec.ranges...)
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Start.Byte < ranges[j].Start.Byte })
	bw := bufio.NewWriter(w)
	for _, d := range diags {
		writeDiagnostic(bw, d, f, ranges, scrub, color)
	}
	return bw.Flush()
}

func writeDiagnostic(w *bufio.Writer, d *hcl.Diagnostic, f *File, secrets []hcl.Range, scrub func(string) string, color bool) {
	var sevColor, hlOn, reset string
	if color {
		sevColor = "\x1b[31m"
		if d.Severity == hcl.DiagWarning {
			sevColor = "\x1b[33m"
		}
		hlOn, reset = "\x1b[1;4m", "\x1b[0m"
	}
	sev := "Error"
	if d.Severity == hcl.DiagWarning {
		sev = "Warning"
	}
	fmt.Fprintf(w, "%s%s%s: %s\n\n", sevColor, sev, reset, scrub(d.Summary))

	if d.Subject != nil {
		src := f.Source(d.Subject.Filename)
		if src == nil {
			fmt.Fprintf(w, "  on %s:%d:%d:\n  (source code not available)\n\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		} else {
			var inFile []hcl.Range // secret ranges are compared by byte offset
			for _, r := range secrets {
				if r.Filename == d.Subject.Filename {
					inFile = append(inFile, r)
				}
			}
			ctx := f.contextString(d.Subject.Filename, d.Subject.Start.Byte)
			if ctx != "" {
				ctx = ", in " + ctx
			}
			fmt.Fprintf(w, "  on %s:%d:%d%s:\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, ctx)
			snip, hl := *d.Subject, *d.Subject
			if d.Context != nil {
				snip = hcl.RangeOver(snip, *d.Context)
			}
			if snip.Empty() {
				snip.End.Byte++
				snip.End.Column++
			}
			if hl.Empty() {
				hl.End.Byte++
				hl.End.Column++
			}
			sc := hcl.NewRangeScanner(src, d.Subject.Filename, bufio.ScanLines)
			for sc.Scan() {
				line := sc.Range()
				if !line.Overlaps(snip) {
					continue
				}
				text := renderLine(src, line, hl, inFile, scrub, hlOn, reset)
				fmt.Fprintf(w, "%4d: %s\n", line.Start.Line, text)
			}
			w.WriteByte('\n')
		}
	}
	if d.Detail != "" {
		fmt.Fprintf(w, "%s\n\n", scrub(d.Detail))
	}
}

// renderLine prints one source line with the highlight and with each secret range on it
// replaced by ***.
func renderLine(src []byte, line, hl hcl.Range, secrets []hcl.Range, scrub func(string) string, hlOn, reset string) string {
	start, end := line.Start.Byte, line.End.Byte
	if end > len(src) {
		end = len(src)
	}
	inHL := func(pos int) bool { return pos >= hl.Start.Byte && pos < hl.End.Byte }
	secretAt := func(pos int) (int, bool) {
		// Overlapping ranges (a parsed attribute and a guessed line) are masked once.
		end, found := pos, false
		for again := true; again; {
			again = false
			for _, r := range secrets {
				if end >= r.Start.Byte && end < r.End.Byte {
					end, found, again = r.End.Byte, true, true
				}
			}
		}
		return end, found
	}
	var b strings.Builder
	on := false
	emit := func(pos int, s string) {
		if want := inHL(pos); want != on {
			if want {
				b.WriteString(hlOn)
			} else {
				b.WriteString(reset)
			}
			on = want
		}
		b.WriteString(s)
	}
	for pos := start; pos < end; {
		if secEnd, ok := secretAt(pos); ok {
			if pos == start && continuesSecret(secrets, start) {
				// A secret continued from an earlier line: keep the indentation.
				for pos < end && pos < secEnd && (src[pos] == ' ' || src[pos] == '\t') {
					pos++
				}
				emit(start, string(src[start:pos]))
				if pos == secEnd || pos == end {
					continue
				}
			}
			emit(pos, masked)
			pos = min(secEnd, end)
			continue
		}
		next := end
		for _, cut := range []int{hl.Start.Byte, hl.End.Byte} {
			if cut > pos && cut < next {
				next = cut
			}
		}
		for _, r := range secrets {
			if r.Start.Byte > pos && r.Start.Byte < next {
				next = r.Start.Byte
			}
		}
		emit(pos, scrub(string(src[pos:next])))
		pos = next
	}
	if on {
		b.WriteString(reset)
	}
	return b.String()
}

// contextString names the innermost block whose body holds offset in the named file:
// `sink "rocketmq"` (a block's header is in its parent).
func (f *File) contextString(filename string, offset int) string {
	s := f.sources[filename]
	if s == nil || s.hcl == nil {
		return ""
	}
	body, ok := s.hcl.Body.(*hclsyntax.Body)
	if !ok {
		if cs, ok := s.hcl.Nav.(interface{ ContextString(int) string }); ok {
			return cs.ContextString(offset)
		}
		return ""
	}
	var inner *hclsyntax.Block
	for body != nil {
		var found *hclsyntax.Block
		for _, blk := range body.Blocks {
			if blk.Body.SrcRange.ContainsOffset(offset) {
				found = blk
				break
			}
		}
		if found == nil {
			break
		}
		inner, body = found, found.Body
	}
	if inner == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(inner.Type)
	for _, l := range inner.Labels {
		fmt.Fprintf(&b, " %q", l)
	}
	return b.String()
}

// continuesSecret reports whether a secret range starts before pos and covers it.
func continuesSecret(secrets []hcl.Range, pos int) bool {
	for _, r := range secrets {
		if r.Start.Byte < pos && pos < r.End.Byte {
			return true
		}
	}
	return false
}
