package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config is a plugin's decoded configuration: a JSON object with one member per attribute
// that is set or has a default. Durations are Go duration strings, sizes are numbers of
// bytes, secrets are plain strings (decode them into Secret).
//
// A Config also carries the plugin's logger (see Logger).
type Config struct {
	raw json.RawMessage
	log *slog.Logger
}

// NewConfig wraps a JSON object.
func NewConfig(raw []byte) Config { return Config{raw: raw} }

// Logger returns the plugin's logger: keep it in Configure and log through it from then on
// (Open, Read, Write, background goroutines). Its records reach ferry's log with the
// pipeline's and the plugin's name and kind, at their level, in the format the user chose
// (--log-format json gives one JSON object a line), and only when --log-level lets them
// through (Enabled is cheap to ask). In process the records go straight into ferry's logger;
// out of process they cross go-plugin's log channel (the plugin's stderr, as hclog JSON).
//
// Log what an operator wants to see: reconnects, retries, a DDL statement applied, progress of
// long work; Debug for detail. Name fields with the keys ferry uses ("table", "position",
// "attempt", "error") and never log a secret's value (Secret prints "***").
//
// Without a host (a plugin's own unit tests) the logger discards everything.
func (c Config) Logger() *slog.Logger {
	if c.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.log
}

// WithLogger returns the configuration carrying l as the plugin's logger (the host and test
// harnesses call it; a plugin has no need to).
func (c Config) WithLogger(l *slog.Logger) Config {
	c.log = l
	return c
}

// JSON returns the configuration's JSON text. It may contain secrets: never log it.
func (c Config) JSON() []byte { return c.raw }

// Decode decodes the configuration into v (a pointer to a struct with json tags). Unknown
// members are an error, so a struct that misses a declared attribute is found by tests.
func (c Config) Decode(v any) error {
	raw := c.raw
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return AttrError(ute.Field, "cannot be decoded as %s", ute.Type)
		}
		return fmt.Errorf("decode configuration: %w", err)
	}
	return nil
}

// AttributeError is a configuration error about one attribute. Ferry reports it at the
// attribute's file:line:column.
type AttributeError struct {
	// Attribute is the attribute name (for nested values "name.key" or "name[2]").
	Attribute string
	// Summary is a short sentence: what is wrong.
	Summary string
	// Detail optionally says how to fix it.
	Detail string
}

func (e *AttributeError) Error() string {
	msg := e.Attribute + ": " + e.Summary
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// AttrError returns an *AttributeError for attribute name.
func AttrError(name, format string, args ...any) error {
	return &AttributeError{Attribute: name, Summary: fmt.Sprintf(format, args...)}
}

// AttributeErrors returns every *AttributeError inside err (which may be an errors.Join).
func AttributeErrors(err error) []*AttributeError {
	var out []*AttributeError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var ae *AttributeError
		if errors.As(e, &ae) && ae == e {
			out = append(out, ae)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &ae) {
			out = append(out, ae)
		}
	}
	walk(err)
	return out
}

// Secret is a string that never prints: String, GoString, fmt verbs and JSON encoding all
// give "***". Use Reveal where the value is really needed.
type Secret string

const masked = "***"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "***".
func (s Secret) String() string { return masked }

// GoString returns "***".
func (s Secret) GoString() string { return masked }

// Format prints "***" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(masked)) }

// MarshalJSON encodes "***".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"***"`), nil }

// MarshalText encodes "***" (so loggers that use encoding.TextMarshaler mask it too).
func (s Secret) MarshalText() ([]byte, error) { return []byte(masked), nil }

// UnmarshalJSON decodes the plain value.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Secret(v)
	return nil
}

// Duration is a time.Duration that decodes from a Go duration string.
type Duration time.Duration

// UnmarshalJSON decodes "1m30s" (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = Duration(n)
	return nil
}

// MarshalJSON encodes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
