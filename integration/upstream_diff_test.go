//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/upstream"
)

// The diff of TestUpstreamFormats: ferry's messages and the real engines' messages are turned
// into items (one row change, DDL or heartbeat record each), matched by format, table, key, op
// and order (the n-th change of a key with an op matches the n-th), flattened into JSON paths
// and compared leaf by leaf, schema and payload alike, after the explicit normalizations of
// upstreamNormalize. What remains is matched against upstreamAllowList
// (upstream_allowlist_test.go).

type upItem struct {
	format     string // debezium, debezium_flatten, debezium_smt, canal
	table, key string
	op         string // the format's op (r/c/u/d, INSERT/...), or tombstone, schema_change, heartbeat, DDL <type>, QUERY
	snapshot   bool
	leaves     map[string]any // flattened message and headers ("headers.<name>...")
	raw        string
	rows       int // rows in the upstream message it came from (Canal packs a statement's rows)
}

func (it *upItem) where() string {
	ph := "stream"
	if it.snapshot {
		ph = "snapshot"
	}
	return fmt.Sprintf("%s %s key=%s op=%s", ph, it.table, it.key, it.op)
}

type upDifference struct {
	Format   string
	Kind     string // value, missing-in-ferry, extra-in-ferry, only-upstream-message, only-ferry-message, rows-per-message
	Path     string // generalized JSON path (or the record kind for whole messages)
	Ferry    string
	Upstream string
	Example  string
}

type upstreamDiff struct {
	db       string
	ferry    map[string][]*upItem
	upstream map[string][]*upItem
	diffs    []upDifference
}

func newUpstreamDiff(db string) *upstreamDiff {
	return &upstreamDiff{db: db, ferry: map[string][]*upItem{}, upstream: map[string][]*upItem{}}
}

func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func jget(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func jstr(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// rowKey is the primary key (id) of a row image.
func rowKey(row any) string { return jstr(jget(row, "id")) }

func (d *upstreamDiff) addFerry(t *testing.T, format string, msgs []harness.Received) {
	for _, m := range msgs {
		doc, err := decodeJSON(string(m.Body))
		if err != nil {
			t.Errorf("ferry %s: body is not JSON: %v\n%s", format, err, m.Body)
			continue
		}
		it := &upItem{format: format, raw: string(m.Body), snapshot: m.Properties["ferry_op"] == "snapshot", rows: 1}
		headers := map[string]any{}
		for k, v := range m.Properties {
			if strings.HasPrefix(k, "__debezium.") {
				if hv, err := decodeJSON(v); err == nil {
					headers[k] = hv
				} else {
					headers[k] = v
				}
			}
		}
		d.describe(it, doc)
		it.leaves = flattenDoc(doc, headers)
		d.ferry[format] = append(d.ferry[format], it)
	}
}

// describe fills table, key and op from a message of the item's format.
func (d *upstreamDiff) describe(it *upItem, doc any) {
	switch it.format {
	case "debezium", "debezium_flatten":
		p := doc
		if it.format == "debezium" {
			p = jget(doc, "payload")
		}
		it.op = jstr(jget(p, "op"))
		it.table = jstr(jget(p, "source", "table"))
		row := jget(p, "after")
		if row == nil {
			row = jget(p, "before")
		}
		it.key = rowKey(row)
	case "debezium_smt":
		it.op = jstr(jget(doc, "__op"))
		it.table = jstr(jget(doc, "__table"))
		it.key = rowKey(doc)
	case "canal":
		it.table = jstr(jget(doc, "table"))
		it.op = jstr(jget(doc, "type"))
		if b, _ := jget(doc, "isDdl").(bool); b {
			it.op = "DDL " + it.op
			return
		}
		if rows, ok := jget(doc, "data").([]any); ok && len(rows) > 0 {
			it.key = rowKey(rows[0])
		}
	}
}

func (d *upstreamDiff) addUpstream(t *testing.T, msgs []upstream.Message) {
	// Canal: a QUERY record (the statement text of a MariaDB annotate event) carries no
	// database; it belongs to the test when the next data record is of the test's database.
	canalDB := func(doc any) string { return strings.Trim(jstr(jget(doc, "database")), "`") }
	var canal []any
	for _, m := range msgs {
		if m.Engine != "canal" || m.Value == nil {
			continue
		}
		doc, err := decodeJSON(*m.Value)
		if err != nil {
			t.Errorf("canal: value is not JSON: %v\n%s", err, *m.Value)
			continue
		}
		canal = append(canal, doc)
	}
	for i, doc := range canal {
		db := canalDB(doc)
		if jstr(jget(doc, "type")) == "QUERY" && db == "" {
			for j := i + 1; j < len(canal); j++ {
				if canalDB(canal[j]) != "" {
					db = canalDB(canal[j])
					break
				}
			}
		}
		if db != d.db {
			continue // another test's database: the test bed is shared
		}
		raw, _ := json.Marshal(doc)
		rows, _ := jget(doc, "data").([]any)
		olds, _ := jget(doc, "old").([]any)
		if len(rows) == 0 {
			it := &upItem{format: "canal", raw: string(raw), rows: 0}
			d.describe(it, doc)
			it.leaves = flattenDoc(doc, nil)
			d.upstream["canal"] = append(d.upstream["canal"], it)
			continue
		}
		for r, row := range rows {
			one := map[string]any{}
			for k, v := range doc.(map[string]any) {
				one[k] = v
			}
			one["data"] = []any{row}
			if olds != nil {
				one["old"] = []any{olds[r]}
			}
			it := &upItem{format: "canal", raw: string(raw), rows: len(rows)}
			d.describe(it, one)
			it.leaves = flattenDoc(one, nil)
			d.upstream["canal"] = append(d.upstream["canal"], it)
		}
	}

	prefix := "ferry." + d.db + "."
	for _, m := range msgs {
		if m.Engine != "debezium" {
			continue
		}
		it := &upItem{format: m.Variant, rows: 1}
		headers := map[string]any{}
		for k, v := range m.Headers {
			if v == nil {
				headers[k] = nil
				continue
			}
			if hv, err := decodeJSON(*v); err == nil {
				headers[k] = hv
			} else {
				headers[k] = *v
			}
		}
		var doc any
		if m.Value != nil {
			var err error
			if doc, err = decodeJSON(*m.Value); err != nil {
				t.Errorf("debezium: value is not JSON: %v\n%s", err, *m.Value)
				continue
			}
			it.raw = *m.Value
		}
		switch {
		case strings.HasPrefix(m.Topic, "__debezium-heartbeat."):
			it.op = "heartbeat"
		case m.Topic == "ferry":
			p := doc
			if m.Variant == "debezium" {
				p = jget(doc, "payload")
			}
			if jstr(jget(p, "databaseName")) != d.db {
				continue
			}
			it.op = "schema_change"
			it.table = jstr(jget(p, "source", "table"))
			it.snapshot = jstr(jget(p, "source", "snapshot")) != "false"
		case strings.HasPrefix(m.Topic, prefix):
			if m.Value == nil {
				it.op = "tombstone"
				it.table = strings.TrimPrefix(m.Topic, prefix)
				if m.Key != nil {
					k, _ := decodeJSON(*m.Key)
					if m.Variant == "debezium" {
						k = jget(k, "payload")
					}
					it.key = rowKey(k)
				}
				break
			}
			d.describe(it, doc)
			snap := jget(doc, "payload", "source", "snapshot")
			if m.Variant == "debezium_flatten" {
				snap = jget(doc, "source", "snapshot")
			}
			it.snapshot = it.op == "r" || (snap != nil && jstr(snap) != "false")
		default:
			continue
		}
		it.leaves = flattenDoc(doc, headers)
		d.upstream[it.format] = append(d.upstream[it.format], it)
	}
}

// flattenDoc turns a message and its headers into path -> leaf. Arrays of Kafka Connect schema
// fields (objects with a "field" member) are keyed by field name ("fields[name]"), with the
// order of the names as a leaf of its own ("fields#order"), so one extra field is one
// difference, not a shift of all that follow.
func flattenDoc(doc any, headers map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(p string, v any)
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				out[p] = "{}"
			}
			for k, e := range x {
				walk(join(p, k), e)
			}
		case []any:
			if len(x) == 0 {
				out[p] = "[]"
				return
			}
			var names []string
			for _, e := range x {
				if n, ok := jget(e, "field").(string); ok {
					names = append(names, n)
				}
			}
			if len(names) == len(x) {
				out[p+"#order"] = strings.Join(names, ",")
				for i, e := range x {
					walk(p+"["+names[i]+"]", e)
				}
				return
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", p, i), e)
			}
		default:
			out[p] = x
		}
	}
	walk("", doc)
	for k, v := range headers {
		walk("headers."+k, v)
	}
	return out
}

// compare matches the items of each format and diffs the pairs.
func (d *upstreamDiff) compare() {
	formats := map[string]bool{}
	for f := range d.ferry {
		formats[f] = true
	}
	for f := range d.upstream {
		formats[f] = true
	}
	for format := range formats {
		idx := func(items []*upItem) map[string][]*upItem {
			m := map[string][]*upItem{}
			for _, it := range items {
				k := it.table + "\x00" + it.key + "\x00" + it.op
				m[k] = append(m[k], it)
			}
			return m
		}
		fi, ui := idx(d.ferry[format]), idx(d.upstream[format])
		keys := map[string]bool{}
		for k := range fi {
			keys[k] = true
		}
		for k := range ui {
			keys[k] = true
		}
		for k := range keys {
			fs, us := fi[k], ui[k]
			for i := 0; i < len(fs) || i < len(us); i++ {
				switch {
				case i >= len(us):
					f := fs[i]
					d.diffs = append(d.diffs, upDifference{Format: format, Kind: "only-ferry-message",
						Path: "op=" + f.op, Ferry: trunc(f.raw), Upstream: "(no such message)", Example: f.where()})
				case i >= len(fs):
					u := us[i]
					d.diffs = append(d.diffs, upDifference{Format: format, Kind: "only-upstream-message",
						Path: "op=" + u.op, Ferry: "(no such message)", Upstream: trunc(u.raw), Example: u.where()})
				default:
					d.diffPair(format, fs[i], us[i])
				}
			}
		}
	}
	sort.SliceStable(d.diffs, func(i, j int) bool {
		a, b := d.diffs[i], d.diffs[j]
		if a.Format != b.Format {
			return a.Format < b.Format
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Path < b.Path
	})
}

func trunc(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

func render(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	reRowImage = regexp.MustCompile(`^(payload\.)?(before|after)\.`)
	reRowField = regexp.MustCompile(`^(schema\.fields\[)(before|after)(\])`)
)

// generalize folds before/after images into one path, so a column's difference is one kind.
func generalize(format, p string) string {
	p = reRowImage.ReplaceAllString(p, "${1}(before|after).")
	p = reRowField.ReplaceAllString(p, "${1}before|after${3}")
	return p
}

func (d *upstreamDiff) diffPair(format string, f, u *upItem) {
	snapshot := f.snapshot
	if u.rows > 1 {
		d.diffs = append(d.diffs, upDifference{Format: format, Kind: "rows-per-message", Path: "data",
			Ferry: "1 row per message", Upstream: fmt.Sprintf("%d rows in one message", u.rows), Example: f.where()})
	}
	paths := map[string]bool{}
	for p := range f.leaves {
		paths[p] = true
	}
	for p := range u.leaves {
		paths[p] = true
	}
	// absentAt is the shortest prefix of p (at a segment boundary) under which side has no
	// leaf at all: a member missing as a whole is one difference, not one per leaf.
	absentAt := func(side map[string]any, p string) string {
		for i := 0; i <= len(p); i++ {
			if i < len(p) && p[i] != '.' && p[i] != '[' && p[i] != '#' {
				continue
			}
			prefix := p[:i]
			if prefix == "" {
				continue
			}
			found := false
			for q := range side {
				if q == prefix || strings.HasPrefix(q, prefix+".") || strings.HasPrefix(q, prefix+"[") || strings.HasPrefix(q, prefix+"#") {
					found = true
					break
				}
			}
			if !found {
				return prefix
			}
		}
		return p
	}
	seen := map[string]bool{}
	for p := range paths {
		fv, fok := f.leaves[p]
		uv, uok := u.leaves[p]
		if fok != uok {
			side, val, leaves := f.leaves, uv, u.leaves
			if fok {
				side, val, leaves = u.leaves, fv, f.leaves
			}
			if at := absentAt(side, p); at != p {
				if seen[at] {
					continue
				}
				seen[at] = true
				sub := map[string]any{}
				for q, v := range leaves {
					if q == at || strings.HasPrefix(q, at+".") || strings.HasPrefix(q, at+"[") || strings.HasPrefix(q, at+"#") {
						sub[q] = v
					}
				}
				val = sub
				p = at
			}
			if fok {
				fv = val
			} else {
				uv = val
			}
		}
		if fok && uok {
			fv, uv = normalizePair(format, p, snapshot, fv, uv)
		}
		fr, ur := render(fv), render(uv)
		kind := "value"
		switch {
		case !fok:
			kind, fr = "missing-in-ferry", "(absent)"
		case !uok:
			kind, ur = "extra-in-ferry", "(absent)"
		case fr == ur || sameNumber(fv, uv):
			continue
		}
		if format == "canal" && u.rows > 1 && (strings.HasPrefix(p, "sqlType.") || strings.HasPrefix(p, "mysqlType.") ||
			kind == "missing-in-ferry" && strings.HasPrefix(p, "old[")) {
			// message-level members of a message holding several rows (see the allow-list)
			kind = "packed-" + kind
		}
		d.diffs = append(d.diffs, upDifference{Format: format, Kind: kind, Path: generalize(format, p),
			Ferry: fr, Upstream: ur, Example: f.where()})
	}
}

// sameNumber: two JSON numbers with the same value are the same to every JSON reader
// (Jackson writes 1.0E-7 where Go writes 1e-07), so their text is not compared.
func sameNumber(a, b any) bool {
	x, ok1 := a.(json.Number)
	y, ok2 := b.(json.Number)
	if !ok1 || !ok2 {
		return false
	}
	rx, ok1 := new(big.Rat).SetString(x.String())
	ry, ok2 := new(big.Rat).SetString(y.String())
	return ok1 && ok2 && rx.Cmp(ry) == 0
}

func num(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	x, err := n.Float64()
	return x, err == nil
}

// normalizePair applies upstreamNormalize to one leaf of a matched pair.
func normalizePair(format, path string, snapshot bool, fv, uv any) (any, any) {
	for _, n := range upstreamNormalize {
		if !n.format.MatchString(format) || !n.path.MatchString(path) {
			continue
		}
		if n.rule == normString {
			a, aok := fv.(string)
			b, bok := uv.(string)
			if aok && bok && a != "" && b != "" {
				return "<" + n.name + ">", "<" + n.name + ">"
			}
			return fv, uv
		}
		a, aok := num(fv)
		b, bok := num(uv)
		if !aok || !bok {
			return fv, uv // not both numbers: compared as they are
		}
		switch n.rule {
		case normAny:
			return "<" + n.name + ">", "<" + n.name + ">"
		case normCommitTime:
			if snapshot {
				return "<snapshot: read time>", "<snapshot: read time>"
			}
			scale := 1.0 // ms
			switch {
			case strings.HasSuffix(path, "_us"):
				scale = 1e3
			case strings.HasSuffix(path, "_ns"):
				scale = 1e6
			}
			if math.Abs(a-b) <= 2000*scale {
				return "<commit time ±2s>", "<commit time ±2s>"
			}
		}
		return fv, uv
	}
	return fv, uv
}

type upReport struct {
	text     string
	failures []string
}

// report groups the differences by format, kind and path, matches each against the
// allow-list (the test's own entries, then shared ones: another test's list, whose unused
// entries are not reported) and renders the report. A difference no entry allows is a failure.
func (d *upstreamDiff) report(own []upAllow, shared ...upAllow) upReport {
	allow := append(append([]upAllow(nil), own...), shared...)
	type group struct {
		upDifference
		count    int
		examples []string
		allowed  *upAllow
	}
	var groups []*group
	byKey := map[string]*group{}
	used := make([]int, len(allow))
	var failures []string
	for _, df := range d.diffs {
		var hit *upAllow
		for i := range allow {
			if allow[i].matches(df) {
				hit = &allow[i]
				used[i]++
				break
			}
		}
		k := df.Format + "\x00" + df.Kind + "\x00" + df.Path
		if hit != nil {
			k += "\x00" + hit.Reason
		}
		g := byKey[k]
		if g == nil {
			g = &group{upDifference: df, allowed: hit}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.count++
		ex := fmt.Sprintf("ferry %s | upstream %s | %s", df.Ferry, df.Upstream, df.Example)
		if len(g.examples) < 3 && !containsStr(g.examples, ex) {
			g.examples = append(g.examples, ex)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "ferry versus Debezium %s (MariaDB connector) and Canal %s: %d differences in %d kinds\n",
		upstream.Versions[upstream.Debezium], upstream.Versions[upstream.Canal], len(d.diffs), len(groups))
	for _, sec := range []struct {
		title string
		want  func(*group) bool
	}{
		{"NOT ALLOWED (fix ferry, or add a documented entry to upstreamAllowList)", func(g *group) bool { return g.allowed == nil }},
		{"PENDING (allowed until the fix lands, issue 14)", func(g *group) bool { return g.allowed != nil && g.allowed.Pending }},
		{"DELIBERATE (documented in docs/formats.md)", func(g *group) bool { return g.allowed != nil && !g.allowed.Pending }},
	} {
		var in []*group
		for _, g := range groups {
			if sec.want(g) {
				in = append(in, g)
			}
		}
		fmt.Fprintf(&b, "\n== %s: %d kinds\n", sec.title, len(in))
		for _, g := range in {
			fmt.Fprintf(&b, "- [%s] %s %s (%d×)\n", g.Format, g.Kind, g.Path, g.count)
			if g.allowed != nil {
				fmt.Fprintf(&b, "    reason: %s\n", g.allowed.Reason)
			}
			for _, ex := range g.examples {
				fmt.Fprintf(&b, "    e.g. %s\n", ex)
			}
			if g.allowed == nil {
				failures = append(failures, fmt.Sprintf("not allowed: [%s] %s %s (%d×), e.g. %s", g.Format, g.Kind, g.Path, g.count, g.examples[0]))
			}
		}
	}
	var unused []string
	for i, a := range own {
		if used[i] == 0 {
			unused = append(unused, fmt.Sprintf("- [%s] %s %s: %s", a.Format, a.Kind, a.Path, a.Reason))
		}
	}
	fmt.Fprintf(&b, "\n== allow-list entries that matched nothing (remove them once their fix landed): %d\n%s\n",
		len(unused), strings.Join(unused, "\n"))
	return upReport{text: b.String(), failures: failures}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// countDebezium counts Debezium's data records (schemas variant, not tombstones) of the test's
// database with the op ("" for any).
func countDebezium(ms []upstream.Message, db, op string) int {
	n := 0
	for _, m := range ms {
		if m.Variant != "debezium" || m.Value == nil || !strings.HasPrefix(m.Topic, "ferry."+db+".") {
			continue
		}
		if op == "" || strings.Contains(*m.Value, `"op":"`+op+`"`) {
			n++
		}
	}
	return n
}

// countCanalRows counts the rows of Canal's INSERT/UPDATE/DELETE records of the database.
func countCanalRows(ms []upstream.Message, db string) int {
	n := 0
	for _, m := range ms {
		if m.Engine != "canal" || m.Value == nil {
			continue
		}
		var fm struct {
			Database string               `json:"database"`
			IsDdl    bool                 `json:"isDdl"`
			Data     []map[string]*string `json:"data"`
		}
		if json.Unmarshal([]byte(*m.Value), &fm) == nil && fm.Database == db && !fm.IsDdl {
			n += len(fm.Data)
		}
	}
	return n
}
