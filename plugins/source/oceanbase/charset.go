package oceanbase

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Binlog rows carry a character column's bytes in the column's own character set (MySQL,
// MariaDB, and the OceanBase Binlog Service, which copies them as the tenant stores them),
// while snapshot reads arrive converted to the session's utf8mb4. Binlog strings are
// therefore decoded by the column's charset, so both agree; a charset ferry cannot decode is
// an error naming the column, never a guess.

// charsetEncodings maps MySQL/MariaDB/OceanBase character set names to their encoding; nil
// means the bytes are UTF-8 already (or ASCII, a subset).
var charsetEncodings = map[string]encoding.Encoding{
	"utf8": nil, "utf8mb3": nil, "utf8mb4": nil, "ascii": nil,
	// MySQL's latin1 is Windows-1252 with 0x81, 0x8D, 0x8F, 0x90 and 0x9D as the C1 controls,
	// which is how x/text's (WHATWG) Windows1252 decodes them too.
	"latin1":   charmap.Windows1252,
	"latin2":   charmap.ISO8859_2,
	"latin5":   charmap.ISO8859_9,
	"latin7":   charmap.ISO8859_13,
	"greek":    charmap.ISO8859_7,
	"hebrew":   charmap.ISO8859_8,
	"cp1250":   charmap.Windows1250,
	"cp1251":   charmap.Windows1251,
	"cp1256":   charmap.Windows1256,
	"cp1257":   charmap.Windows1257,
	"cp850":    charmap.CodePage850,
	"cp852":    charmap.CodePage852,
	"cp866":    charmap.CodePage866,
	"koi8r":    charmap.KOI8R,
	"koi8u":    charmap.KOI8U,
	"macroman": charmap.Macintosh,
	"gbk":      simplifiedchinese.GBK,
	"gb2312":   simplifiedchinese.GBK, // EUC-CN, a subset of GBK
	"gb18030":  simplifiedchinese.GB18030,
	"big5":     traditionalchinese.Big5,
	"sjis":     japanese.ShiftJIS,
	"cp932":    japanese.ShiftJIS,
	"ujis":     japanese.EUCJP,
	"eucjpms":  japanese.EUCJP,
	"euckr":    korean.EUCKR,
	"utf16":    unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	"utf16le":  unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	"ucs2":     unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), // UCS-2 is UTF-16 without surrogates
	"utf32":    utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM),
}

// logString decodes a binlog string value of character column c.
func logString(c *change.Column, b []byte) (change.Value, error) {
	cs := strings.ToLower(c.Charset)
	enc, known := charsetEncodings[cs]
	switch {
	case cs == "latin1":
		return change.NewString(latin1Decode(b)), nil
	case cs == "" || (known && enc == nil):
		return change.NewString(string(b)), nil
	case !known:
		return change.Null, fmt.Errorf("column %s (%s): character set %q cannot be decoded from the binlog (ferry decodes %s)",
			c.Name, c.ColumnType, c.Charset, knownCharsets())
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err == nil && bytes.ContainsRune(out, utf8.RuneError) {
		// the decoders replace what they cannot decode: only a real U+FFFD encodes back alike
		if back, eerr := enc.NewEncoder().Bytes(out); eerr != nil || !bytes.Equal(back, b) {
			err = errors.New("undecodable bytes")
		}
	}
	if err != nil || !utf8.Valid(out) {
		return change.Null, fmt.Errorf("column %s (%s): binlog bytes %x are not %s: %v", c.Name, c.ColumnType, b, c.Charset, err)
	}
	return change.NewString(string(out)), nil
}

// latin1Decode decodes MySQL's latin1: Windows-1252, except that 0x81, 0x8D, 0x8F, 0x90
// and 0x9D (undefined there) are the C1 controls U+0081 ... (as MySQL converts them to
// utf8mb4). Every byte decodes.
func latin1Decode(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, x := range b {
		switch {
		case x < 0x80:
			sb.WriteByte(x)
		case x == 0x81 || x == 0x8d || x == 0x8f || x == 0x90 || x == 0x9d:
			sb.WriteRune(rune(x))
		default:
			sb.WriteRune(charmap.Windows1252.DecodeByte(x))
		}
	}
	return sb.String()
}

func knownCharsets() string {
	names := make([]string, 0, len(charsetEncodings))
	for n := range charsetEncodings {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
