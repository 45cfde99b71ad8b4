// Package fmtkit holds what ferry's built-in message formats share: per-table column data
// cached by schema pointer, the rules that turn values into text, DDL classification, and
// the injectable clock and sequence behind the few non-deterministic fields.
package fmtkit

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Hooks supply the build time and the process-local sequence some formats carry (Canal's
// id and ts, Default's storeDataSequence, Debezium's ts_ms, ...). Tests replace them so
// golden files are exact; the zero Hooks use the wall clock and an atomic counter.
type Hooks struct {
	// Now returns the build time; nil means time.Now.
	Now func() time.Time
	// Seq returns the next sequence number; nil means an internal counter starting at 1.
	Seq     func() uint64
	counter atomic.Uint64
}

// Time returns the build time.
func (h *Hooks) Time() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Next returns the next sequence number.
func (h *Hooks) Next() uint64 {
	if h.Seq != nil {
		return h.Seq()
	}
	return h.counter.Add(1)
}

// Millis returns t in epoch milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Seconds returns t in epoch seconds, 0 for the zero time.
func Seconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// Cache maps a *change.Table to data derived from it. Schemas are immutable once changes
// refer to them, so the pointer is a safe key. It is safe for concurrent use; it is cleared
// when it grows past a bound, so schemas of dropped tables do not pile up.
type Cache[T any] struct {
	m    sync.Map
	n    atomic.Int64
	make func(*change.Table) T
}

// NewCache returns a cache that builds missing entries with build.
func NewCache[T any](build func(*change.Table) T) *Cache[T] {
	return &Cache[T]{make: build}
}

const cacheBound = 4096

// Get returns the entry for t, building it on first use.
func (c *Cache[T]) Get(t *change.Table) T {
	if v, ok := c.m.Load(t); ok {
		return v.(T)
	}
	v := c.make(t)
	if c.n.Add(1) > cacheBound {
		c.m.Clear()
		c.n.Store(1)
	}
	act, _ := c.m.LoadOrStore(t, v)
	return act.(T)
}

// Col is what formats precompute about one column.
type Col struct {
	*change.Column
	// Name is the column name as a JSON string (quoted, escaped).
	Name []byte
	// Bits is the width of a BIT column (1 when not declared), 0 for other types.
	Bits int
}

// Cols precomputes the columns of t.
func Cols(t *change.Table) []Col {
	cols := make([]Col, len(t.Columns))
	for i := range t.Columns {
		c := &t.Columns[i]
		cols[i] = Col{Column: c, Name: jsonw.AppendString(nil, c.Name)}
		if strings.EqualFold(c.Type, "BIT") {
			cols[i].Bits = BitWidth(c)
		}
	}
	return cols
}

// BitWidth returns n of a BIT(n) column, from its ColumnType ("bit(10)"), else its Length or
// Precision, else 1 (BIT alone is BIT(1)).
func BitWidth(c *change.Column) int {
	ct := c.ColumnType
	if i := strings.IndexByte(ct, '('); i >= 0 {
		if j := strings.IndexByte(ct[i:], ')'); j > 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(ct[i+1 : i+j])); err == nil && n > 0 && n <= 64 {
				return n
			}
		}
	}
	if c.Length > 0 && c.Length <= 64 {
		return int(c.Length)
	}
	if c.Precision > 0 && c.Precision <= 64 {
		return c.Precision
	}
	return 1
}

// BitBytes returns the (n+7)/8 bytes of a BIT(n) value, big-endian (as MySQL stores it)
// or little-endian.
func BitBytes(dst []byte, v uint64, bits int, littleEndian bool) []byte {
	n := (bits + 7) / 8
	if n == 0 {
		n = 1
	}
	for i := 0; i < n; i++ {
		shift := uint(8 * (n - 1 - i))
		if littleEndian {
			shift = uint(8 * i)
		}
		var b byte
		if shift < 64 {
			b = byte(v >> shift)
		}
		dst = append(dst, b)
	}
	return dst
}

// TextRules say how the text formats (Default, Canal, SharePlex) write binary values.
type TextRules struct {
	// Latin1Bytes writes binary values as ISO-8859-1 text (Canal) instead of Base64.
	Latin1Bytes bool
	// BitNumber writes BIT values as their unsigned integer (Canal) instead of the Base64
	// of their big-endian bytes.
	BitNumber bool
}

// AppendText appends v as a JSON string following the common text rules of formats.md
// (null for NULL): integers in decimal, floats in the shortest text that round-trips,
// DECIMAL exactly as read, DATE/DATETIME/TIMESTAMP/TIME as MySQL prints them with the
// column's fractional digits (zero dates as 0000-00-00...), YEAR in four digits, character
// data, JSON, ENUM and SET as their text, binary and BIT per r.
func AppendText(dst []byte, c *Col, v change.Value, r TextRules) []byte {
	switch v.Kind() {
	case change.KindNull:
		return append(dst, "null"...)
	case change.KindString, change.KindJSON, change.KindEnum, change.KindSet, change.KindDecimal:
		return jsonw.AppendString(dst, v.Str())
	case change.KindBytes:
		if r.Latin1Bytes {
			return jsonw.AppendLatin1(dst, v.Str())
		}
		return jsonw.AppendBase64(dst, v.Str())
	case change.KindBit:
		if r.BitNumber {
			break
		}
		var tmp [8]byte
		bits := c.Bits
		if bits == 0 {
			bits = 64
		}
		return jsonw.AppendBase64Bytes(dst, BitBytes(tmp[:0], v.Uint(), bits, false))
	case change.KindFloat32, change.KindFloat64:
		dst = append(dst, '"')
		dst = AppendFloat(dst, v)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = v.AppendText(dst, fsp(c))
	return append(dst, '"')
}

// AppendFloat appends a FLOAT or DOUBLE value in the shortest text that round-trips at its
// precision ("0.1", "-1.5e-07"); NaN and infinities as NaN, +Inf, -Inf.
func AppendFloat(dst []byte, v change.Value) []byte {
	if v.Kind() == change.KindFloat32 {
		return strconv.AppendFloat(dst, float64(v.Float32()), 'g', -1, 32)
	}
	return strconv.AppendFloat(dst, v.Float(), 'g', -1, 64)
}

func fsp(c *Col) int {
	if c == nil {
		return -1
	}
	return c.Fsp
}

// DDLVerb returns the statement's first keyword in upper case (CREATE, ALTER, DROP,
// TRUNCATE, RENAME, ...), skipping leading blanks and comments; "" when there is none.
func DDLVerb(stmt string) string {
	s := stmt
	for {
		s = strings.TrimLeft(s, " \t\r\n;(")
		switch {
		case strings.HasPrefix(s, "/*"):
			if strings.HasPrefix(s, "/*!") { // executable comment: /*!40101 STMT */
				s = strings.TrimLeft(s[3:], "0123456789")
				continue
			}
			j := strings.Index(s, "*/")
			if j < 0 {
				return ""
			}
			s = s[j+2:]
			continue
		case strings.HasPrefix(s, "--"), strings.HasPrefix(s, "#"):
			j := strings.IndexByte(s, '\n')
			if j < 0 {
				return ""
			}
			s = s[j+1:]
			continue
		}
		break
	}
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
		end++
	}
	return strings.ToUpper(s[:end])
}

// DDLType returns the statement's kind for formats that name DDL by its verb: CREATE,
// ALTER, DROP, TRUNCATE, RENAME, else QUERY.
func DDLType(stmt string) string {
	switch v := DDLVerb(stmt); v {
	case "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME":
		return v
	default:
		return "QUERY"
	}
}

// DBName returns the database as OceanBase-aware formats name it: "tenant.database" when the
// table has a tenant, else the database.
func DBName(t *change.Table, db string) string {
	if t != nil {
		if db == "" {
			db = t.Database
		}
		if t.Tenant != "" {
			return t.Tenant + "." + db
		}
	}
	return db
}

// Database returns the change's database, falling back to its table's.
func Database(c *change.Change) string {
	if c.Database == "" && c.Table != nil {
		return c.Table.Database
	}
	return c.Database
}

// TableName returns the change's table name, falling back to its table's.
func TableName(c *change.Change) string {
	if c.TableName == "" && c.Table != nil {
		return c.Table.Name
	}
	return c.TableName
}

// UTCMillis returns a DATE, DATETIME or TIMESTAMP value's wall clock read as UTC, in epoch
// milliseconds; ok is false for zero dates.
func UTCMillis(v change.Value) (ms int64, ok bool) {
	t, ok := v.Temporal().Time(nil)
	if !ok {
		return 0, false
	}
	return t.UnixMilli(), true
}

// Sizer sizes each batch's buffer by what the serializer's previous batches needed per
// change, so that a buffer is neither regrown (copied) while it fills nor much larger than
// needed (Go zeroes the whole capacity of every new buffer). Safe for concurrent use; the
// zero value starts from the size given to Start.
type Sizer struct{ per atomic.Int64 }

// Start returns a buffer for n changes: the learned size per change, or initial before any
// batch was seen.
func (z *Sizer) Start(n, initial int) []byte {
	per := int(z.per.Load())
	if per <= 0 {
		per = initial
	}
	return make([]byte, 0, n*per)
}

// Finish ends a batch: it learns from buf (Done) and keeps the promise of sdk.ExactValues for
// recs, the records whose values were appended to buf since Start returned a buffer of
// capacity startCap. When buf grew (earlier values point into an outgrown array) or is more
// than a quarter larger than its bytes, it copies the values into an array of their size.
func (z *Sizer) Finish(buf []byte, startCap, n int, recs []sdk.Record) {
	z.Done(buf, n)
	if cap(buf) != startCap || cap(buf)-len(buf) > len(buf)/4 {
		sdk.CompactValues(recs)
	}
}

// Done learns from buf, the finished buffer of n changes: the size per change rises at once
// to what this batch needed (plus an eighth), and falls by an eighth of the difference.
func (z *Sizer) Done(buf []byte, n int) {
	if n <= 0 || len(buf) == 0 {
		return
	}
	need := len(buf) / n
	target := int64(need + need/8 + 16)
	old := z.per.Load()
	if target > old {
		z.per.Store(target)
	} else if old > target {
		z.per.Store(old - (old-target)/8)
	}
}

// CloseString ends a JSON string whose opening quote is at b[start-1] and whose content
// b[start:] was appended raw: content that needs escaping is re-written escaped.
func CloseString(b []byte, start int) []byte {
	for _, c := range b[start:] {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			raw := string(b[start:])
			return jsonw.AppendString(b[:start-1], raw)
		}
	}
	return append(b, '"')
}

// AppendTextFields appends `"name":value` members, comma-separated and without braces, for
// every column of cols, the value of a column taken from row by index (NULL past its end) and
// written by AppendText with r.
func AppendTextFields(b []byte, cols []Col, row []change.Value, r TextRules) []byte {
	for i := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		c := &cols[i]
		b = append(b, c.Name...)
		b = append(b, ':')
		v := change.Null
		if i < len(row) {
			v = row[i]
		}
		b = AppendText(b, c, v, r)
	}
	return b
}
