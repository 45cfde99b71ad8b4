package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestRedacting(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Format: "json", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	var r Redactor
	l = Redacting(l, &r)
	l.Info("before set: s3cret")
	r.Set(func(s string) string { return strings.ReplaceAll(s, "s3cret", "***") })
	l.With(zap.String("dsn", "u:s3cret@tcp")).Warn("connect as s3cret failed",
		zap.Error(errors.New("access denied for s3cret")), zap.Stringer("x", stringer("s3cret")))
	out := buf.String()
	if !strings.Contains(out, "before set: s3cret") {
		t.Errorf("masked before Set:\n%s", out)
	}
	last := out[strings.Index(out, "connect"):]
	if strings.Contains(last, "s3cret") || strings.Count(last, "***") != 4 {
		t.Errorf("output:\n%s", out)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
