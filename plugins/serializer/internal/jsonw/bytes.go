package jsonw

import "unsafe"

// unsafeBytes views s as bytes without copying; the encoder only reads them.
func unsafeBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
