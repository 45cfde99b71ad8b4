package obstandin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// JSONTextToBinary encodes JSON text as MySQL's binary JSON (the format of JSON columns in a
// MySQL binlog): the Binlog Service re-encodes OceanBase's JSON text this way
// (oblogproxy src/binlog/data_type.cpp 830-841); MariaDB logs JSON as LONGTEXT text.
// Integers take the smallest of int16/int32/int64 (uint64 above int64), other numbers
// double; object keys are sorted by length, then bytes, as MySQL sorts them.
func JSONTextToBinary(text []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON value")
	}
	typ, val, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{typ}, val...), nil
}

const (
	jbSmallObject = 0x00
	jbLargeObject = 0x01
	jbSmallArray  = 0x02
	jbLargeArray  = 0x03
	jbLiteral     = 0x04
	jbInt16       = 0x05
	jbUint16      = 0x06
	jbInt32       = 0x07
	jbUint32      = 0x08
	jbInt64       = 0x09
	jbUint64      = 0x0a
	jbDouble      = 0x0b
	jbString      = 0x0c
)

func jsonValue(v any) (byte, []byte, error) {
	switch x := v.(type) {
	case nil:
		return jbLiteral, []byte{0x00}, nil
	case bool:
		if x {
			return jbLiteral, []byte{0x01}, nil
		}
		return jbLiteral, []byte{0x02}, nil
	case string:
		return jbString, appendVarLen(nil, x), nil
	case json.Number:
		s := string(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			switch {
			case i >= math.MinInt16 && i <= math.MaxInt16:
				return jbInt16, binary.LittleEndian.AppendUint16(nil, uint16(int16(i))), nil
			case i >= math.MinInt32 && i <= math.MaxInt32:
				return jbInt32, binary.LittleEndian.AppendUint32(nil, uint32(int32(i))), nil
			}
			return jbInt64, binary.LittleEndian.AppendUint64(nil, uint64(i)), nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return jbUint64, binary.LittleEndian.AppendUint64(nil, u), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, nil, fmt.Errorf("number %s: %w", s, err)
		}
		return jbDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)), nil
	case []any:
		if b, err := jsonContainer(nil, x, false); err == nil {
			return jbSmallArray, b, nil
		}
		b, err := jsonContainer(nil, x, true)
		return jbLargeArray, b, err
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if len(keys[i]) != len(keys[j]) {
				return len(keys[i]) < len(keys[j])
			}
			return keys[i] < keys[j]
		})
		vals := make([]any, len(keys))
		for i, k := range keys {
			vals[i] = x[k]
		}
		if b, err := jsonContainer(keys, vals, false); err == nil {
			return jbSmallObject, b, nil
		}
		b, err := jsonContainer(keys, vals, true)
		return jbLargeObject, b, err
	}
	return 0, nil, fmt.Errorf("unexpected JSON value %T", v)
}

var errTooLarge = errors.New("too large for the small format")

// jsonContainer encodes an object (keys != nil) or array: element count, byte size, key
// entries, value entries, keys, then values. Small literals and 16-bit integers (and 32-bit
// ones in the large format) are inlined in their value entry.
func jsonContainer(keys []string, vals []any, large bool) ([]byte, error) {
	osz := 2
	if large {
		osz = 4
	}
	n := len(vals)
	hdr := 2 * osz
	keyEntry := 0
	if keys != nil {
		keyEntry = osz + 2
	}
	valEntry := 1 + osz
	off := hdr + n*keyEntry + n*valEntry
	put := func(b []byte, v int) []byte {
		if large {
			return binary.LittleEndian.AppendUint32(b, uint32(v))
		}
		return binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	limit := math.MaxUint16
	if large {
		limit = math.MaxUint32
	}
	var keyEntries, valEntries, tail []byte
	for _, k := range keys {
		if len(k) > math.MaxUint16 {
			return nil, errors.New("JSON key too long")
		}
		keyEntries = put(keyEntries, off+len(tail))
		keyEntries = binary.LittleEndian.AppendUint16(keyEntries, uint16(len(k)))
		tail = append(tail, k...)
	}
	for _, v := range vals {
		typ, val, err := jsonValue(v)
		if err != nil {
			return nil, err
		}
		inline := typ == jbLiteral || typ == jbInt16 || typ == jbUint16 || (large && (typ == jbInt32 || typ == jbUint32))
		valEntries = append(valEntries, typ)
		if inline {
			e := make([]byte, osz)
			copy(e, val)
			valEntries = append(valEntries, e...)
			continue
		}
		if !large && (typ == jbLargeArray || typ == jbLargeObject) {
			return nil, errTooLarge
		}
		valEntries = put(valEntries, off+len(tail))
		tail = append(tail, val...)
	}
	size := off + len(tail)
	if size > limit {
		return nil, errTooLarge
	}
	b := put(nil, n)
	b = put(b, size)
	b = append(b, keyEntries...)
	b = append(b, valEntries...)
	return append(b, tail...), nil
}

func appendVarLen(b []byte, s string) []byte {
	n := len(s)
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			b = append(b, c)
			break
		}
		b = append(b, c|0x80)
	}
	return append(b, s...)
}
