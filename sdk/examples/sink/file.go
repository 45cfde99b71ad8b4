// Package sink is an example sink plugin, "file": it appends each record to a file as one
// JSON line,
//
//	{"topic":"orders","key":"7","hash":123,"id":"gen-7","op":"insert","value":"{\"id\":...}"}
//
// (the value as a JSON string), and with `sync` (the default) fsyncs the file before Write
// returns, so that what it reports delivered is durable.
package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/examples/internal/jsontext"
)

// File is the "file" sink. Write is safe for concurrent use (lanes are serialized on the
// file).
type File struct {
	sdk.UnimplementedSink
	cfg config

	mu   sync.Mutex
	f    *os.File
	size int64 // bytes in the file
	buf  []byte
	ends []int
}

type config struct {
	Path string `json:"path"`
	Sync bool   `json:"sync"`
}

// New returns an unconfigured file sink.
func New() *File { return &File{cfg: config{Sync: true}} }

// Info identifies the plugin.
func (s *File) Info() sdk.Info {
	return sdk.Info{Name: "file", Kind: sdk.KindSink, Version: "0.1.0",
		Summary: "Appends records to a file, one JSON line each."}
}

// Spec declares the configuration.
func (s *File) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "path", Type: sdk.TypeString, Required: true,
			Doc: "File the records are appended to; created if missing. Its directory must exist."},
		{Name: "sync", Type: sdk.TypeBool, Default: true,
			Doc: "Fsync the file at the end of every write, so that delivered records survive a crash."},
	}}
}

// Configure decodes and checks the configuration.
func (s *File) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	// The defaults are written once, in Spec; the settings given override them.
	if err := s.Spec().DecodeDefaults(&cfg); err != nil {
		return err
	}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Path == "" {
		return sdk.AttrError("path", "must not be empty")
	}
	dir := filepath.Dir(cfg.Path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return &sdk.AttributeError{Attribute: "path", Summary: fmt.Sprintf("directory %s does not exist", dir),
			Detail: "create it first"}
	}
	s.cfg = cfg
	return nil
}

// Open opens the file for appending.
func (s *File) Open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	s.mu.Lock()
	s.f, s.size = f, st.Size()
	s.mu.Unlock()
	return nil
}

// Write appends the records in one write and fsyncs. On a short write it cuts the file
// back to the last whole line and reports the lines before it delivered.
func (s *File) Write(ctx context.Context, records []sdk.Record) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, errors.New("file sink is not open")
	}
	if len(records) == 0 {
		return 0, nil
	}
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	for i := range records {
		s.buf = appendLine(s.buf, &records[i])
		s.ends = append(s.ends, len(s.buf))
	}
	n, err := s.f.Write(s.buf)
	if err != nil {
		delivered := 0
		for delivered < len(s.ends) && s.ends[delivered] <= n {
			delivered++
		}
		whole := 0
		if delivered > 0 {
			whole = s.ends[delivered-1]
		}
		if terr := s.f.Truncate(s.size + int64(whole)); terr != nil {
			// The file now ends with a partial line: nothing after it can be trusted.
			return 0, fmt.Errorf("write %s: %w (and cutting the partial line failed: %v)", s.cfg.Path, err, terr)
		}
		s.size += int64(whole)
		if serr := s.sync(); serr != nil {
			return 0, serr
		}
		return delivered, fmt.Errorf("write %s: %w", s.cfg.Path, err)
	}
	s.size += int64(n)
	if err := s.sync(); err != nil {
		return 0, err
	}
	return len(records), nil
}

func (s *File) sync() error {
	if !s.cfg.Sync {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.cfg.Path, err)
	}
	return nil
}

// appendLine appends r as a JSON line.
func appendLine(b []byte, r *sdk.Record) []byte {
	b = append(b, `{"topic":`...)
	b = jsontext.AppendString(b, r.Topic)
	b = append(b, `,"key":`...)
	b = jsontext.AppendString(b, r.Key)
	b = append(b, `,"hash":`...)
	b = strconv.AppendUint(b, r.Hash, 10)
	b = append(b, `,"id":`...)
	b = jsontext.AppendString(b, r.ChangeID)
	b = append(b, `,"op":"`...)
	b = append(b, r.Op.String()...)
	b = append(b, `","value":`...)
	b = jsontext.AppendString(b, string(r.Value))
	return append(b, '}', '\n')
}

// Close syncs and closes the file. It is safe without a successful Open.
func (s *File) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
