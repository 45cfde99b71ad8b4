package sink_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/examples/sink"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func cfg(path string) sdk.Config {
	b, _ := json.Marshal(map[string]any{"path": path})
	return sdk.NewConfig(b)
}

type line struct {
	Topic, Key, ID, Op, Value string
	Hash                      uint64
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func open(t *testing.T, s sdk.Sink, path string) {
	t.Helper()
	if err := s.Configure(context.Background(), cfg(path)); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestWritesLinesAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	recs := sdktest.SampleRecords()
	for run := 0; run < 2; run++ {
		s := sink.New()
		open(t, s, path)
		if n, err := s.Write(context.Background(), recs); n != len(recs) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	lines := readLines(t, path)
	if len(lines) != 2*len(recs) {
		t.Fatalf("%d lines, want %d", len(lines), 2*len(recs))
	}
	l, r := lines[len(recs)+4], recs[4]
	if l.Topic != strings.ToValidUTF8(r.Topic, "\uFFFD") || l.Key != r.Key || l.Hash != r.Hash || l.ID != r.ChangeID ||
		l.Op != r.Op.String() || l.Value != string(r.Value) {
		t.Errorf("line %+v for record %+v", l, r)
	}
}

func TestConcurrentLanesKeepWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := sink.New()
	open(t, s, path)
	var wg sync.WaitGroup
	for lane := 0; lane < 4; lane++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if n, err := s.Write(context.Background(), sdktest.SampleRecords()); err != nil || n == 0 {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, path)); n != 40*len(sdktest.SampleRecords()) {
		t.Errorf("%d lines", n)
	}
}

func TestErrors(t *testing.T) {
	err := sink.New().Configure(context.Background(), cfg(filepath.Join(t.TempDir(), "missing", "out.jsonl")))
	if aes := sdk.AttributeErrors(err); len(aes) != 1 || aes[0].Attribute != "path" {
		t.Errorf("err = %v", err)
	}
	err = sink.New().Configure(context.Background(), sdk.NewConfig([]byte(`{"path":""}`)))
	if aes := sdk.AttributeErrors(err); len(aes) != 1 || aes[0].Attribute != "path" {
		t.Errorf("err = %v", err)
	}
	s := sink.New()
	if err := s.Configure(context.Background(), cfg(filepath.Join(t.TempDir(), "x"))); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Write(context.Background(), sdktest.SampleRecords()); n != 0 || err == nil {
		t.Errorf("Write before Open = %d, %v", n, err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("Close without Open: %v", err)
	}
}

func newFile(t testing.TB) (sdk.Sink, sdk.Config) {
	return sink.New(), cfg(filepath.Join(t.TempDir(), "out.jsonl"))
}

func TestConformance(t *testing.T) { sdktest.Sink(t, newFile) }

func TestThroughGRPC(t *testing.T) {
	sdktest.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := sdktest.GRPCPair[sdk.Sink](t, sink.New())
	open(t, s, path)
	recs := sdktest.SampleRecords()
	if n, err := s.Write(context.Background(), recs); n != len(recs) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != len(recs) || lines[0].ID != recs[0].ChangeID || lines[0].Value != string(recs[0].Value) {
		t.Fatalf("lines %+v", lines)
	}
}
