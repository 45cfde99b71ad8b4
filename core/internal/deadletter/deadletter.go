// Package deadletter keeps the records a pipeline skipped (runtime oversize = "skip") in a
// JSON-lines file beside the checkpoint: <checkpoint dir>/<pipeline>.deadletter.jsonl. Each
// line is appended and fsynced before the record is acknowledged, so a checkpoint never
// passes a skipped record that is not in the file.
package deadletter

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// Path is the dead-letter file of pipeline in the checkpoint directory dir.
func Path(dir, pipeline string) string { return filepath.Join(dir, pipeline+".deadletter.jsonl") }

// Line is one skipped record, one JSON object per line.
type Line struct {
	// Time is when the record was skipped (RFC 3339, UTC).
	Time time.Time `json:"time"`
	// Pipeline is the pipeline's name.
	Pipeline string `json:"pipeline"`
	// Database and Table name the source table.
	Database string `json:"database"`
	Table    string `json:"table"`
	// Key is the record key (key-column values joined with U+0001).
	Key string `json:"key"`
	// ChangeID is the change's stable unique id (the ferry_id property).
	ChangeID string `json:"change_id"`
	// Op is the operation (insert, update, delete, snapshot, ddl).
	Op string `json:"op"`
	// Position is the change's source position, base64 (standard encoding).
	Position []byte `json:"position"`
	// CommitMS is the commit time, Unix milliseconds (absent when unknown).
	CommitMS int64 `json:"commit_ms,omitempty"`
	// Topic is the record's topic ("" when it goes to the sink's default topic).
	Topic string `json:"topic,omitempty"`
	// Size and Limit are the record's size as the sink counts it and the sink's limit.
	Size  int64 `json:"size"`
	Limit int64 `json:"limit"`
	// Error is the sink's message.
	Error string `json:"error"`
	// Properties are the serializer's message properties.
	Properties []sdk.Property `json:"properties,omitempty"`
	// Value is the message body, base64: what the broker refused, to deliver by other means.
	Value []byte `json:"value"`
}

// File is an open dead-letter file. Its Write may be called from several goroutines.
type File struct {
	pipeline string
	mu       sync.Mutex
	f        *os.File
	now      func() time.Time
}

// Open opens (creating, mode 0600) the dead-letter file of pipeline in dir for appending.
func Open(dir, pipeline string) (*File, error) {
	p := Path(dir, pipeline)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	return &File{pipeline: pipeline, f: f, now: time.Now}, nil
}

// Name returns the file's path.
func (d *File) Name() string { return d.f.Name() }

// Write appends rec, refused by the sink with tl, and fsyncs the file.
func (d *File) Write(rec *sdk.Record, tl *sdk.TooLargeError) error {
	l := Line{
		Time: d.now().UTC(), Pipeline: d.pipeline, Database: rec.Database, Table: rec.Table, Key: rec.Key,
		ChangeID: rec.ChangeID, Op: rec.Op.String(), Position: rec.Position, Topic: rec.Topic,
		Size: tl.Size, Limit: tl.Limit, Error: tl.Error(), Properties: rec.Properties, Value: rec.Body(),
	}
	if !rec.CommitTime.IsZero() {
		l.CommitMS = rec.CommitTime.UnixMilli()
	}
	b, err := json.Marshal(&l)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	b = append(b, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(b); err != nil {
		return fmt.Errorf("dead-letter file %s: %w", d.f.Name(), err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead-letter file %s: fsync: %w", d.f.Name(), err)
	}
	return nil
}

// Close closes the file.
func (d *File) Close() error { return d.f.Close() }
