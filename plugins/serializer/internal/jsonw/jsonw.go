// Package jsonw appends JSON text to byte slices without reflection, for the serializers' hot
// paths. Output is deterministic: the same input always gives the same bytes.
package jsonw

import (
	"encoding/base64"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD (as encoding/json
// does); control characters, quotes, backslashes, U+2028 and U+2029 are escaped; everything
// else is written as is (no HTML escaping).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	default:
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
	}
}

// AppendLatin1 appends the bytes b as a JSON string in which each byte is the character of
// the same code point (ISO-8859-1), as Java's new String(bytes, ISO_8859_1) reads binary
// data. The bytes are recovered exactly by encoding the decoded string as ISO-8859-1.
func AppendLatin1(dst []byte, b string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 0x80:
			dst = utf8.AppendRune(dst, rune(c))
		case c < 0x20 || c == '"' || c == '\\':
			dst = appendEscapedASCII(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// AppendBase64 appends b as a JSON string holding its standard, padded Base64 encoding.
func AppendBase64(dst []byte, b string) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, unsafeBytes(b))
	return append(dst, '"')
}

// AppendBase64Bytes is AppendBase64 for a byte slice.
func AppendBase64Bytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// AppendBool appends true or false.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}
