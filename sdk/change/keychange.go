package change

import (
	"fmt"
	"strconv"
	"strings"
)

// EncodeKey encodes values losslessly (kind and raw contents of each) as text, for Meta.
func EncodeKey(values []Value) string {
	var b []byte
	for _, v := range values {
		k, n, s := v.Raw()
		b = strconv.AppendUint(b, uint64(k), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, n, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return string(b)
}

// DecodeKey is the inverse of EncodeKey.
func DecodeKey(text string) ([]Value, error) {
	var out []Value
	for text != "" {
		var f [3]uint64
		for i := range f {
			j := strings.IndexByte(text, ':')
			if j < 0 {
				return nil, fmt.Errorf("change: malformed encoded key")
			}
			n, err := strconv.ParseUint(text[:j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("change: malformed encoded key: %w", err)
			}
			f[i] = n
			text = text[j+1:]
		}
		if f[0] > 255 || f[2] > uint64(len(text)) {
			return nil, fmt.Errorf("change: malformed encoded key")
		}
		out = append(out, FromRaw(Kind(f[0]), f[1], text[:f[2]]))
		text = text[f[2]:]
	}
	return out, nil
}

// KeyValues returns the values of row's columns cols (nil: t.KeyColumns()).
func KeyValues(t *Table, row []Value, cols []int) []Value {
	if cols == nil {
		cols = t.KeyColumns()
	}
	out := make([]Value, len(cols))
	for n, i := range cols {
		if i < len(row) {
			out[n] = row[i]
		}
	}
	return out
}
