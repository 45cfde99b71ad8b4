package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestE2EReloadOnFileChange runs the real ferry binary (generator → objects → jsonl → file)
// and edits the objects block while it runs:
//   - a new row filter applies from one point on: every record before it passes the old
//     filter, every record after it the new one (the switch waits until nothing is in flight,
//     so the file has exactly one boundary even with 4 write lanes);
//   - a filter naming a column the table does not have is refused and the old one stays;
//   - a change outside the objects block is reported as needing a restart.
func TestE2EReloadOnFileChange(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	path := filepath.Join(dir, "p.hcl")
	version := 0
	write := func(where, sinkPath string) {
		version++
		cfg := `pipeline "reload" {
  source "generator" {
    rows       = 200
    count      = 10000000
    batch_size = 20
    rate       = 4000
  }
  objects {
    table "demo.orders" { where = "` + where + `" }
  }
  serializer "jsonl" {}
  sink "file" { path = "` + sinkPath + `" }
  runtime {
    writers    = 4
    batch_size = 16
  }
  checkpoint {
    dir      = "cp"
    interval = "100ms"
  }
}
`
		// Write a temporary file and rename it, as editors do, so the watcher never reads a
		// half-written file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		// Each version gets a modification time of its own, also on coarse clocks.
		mtime := time.Now().Add(time.Duration(version) * time.Second)
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("status = 'new'", out)
	cmd := exec.Command(filepath.Join(bins, "ferry"), "--log-format", "json", "run", "--watch", "100ms", "--status-addr", "", path)
	cmd.Dir = dir
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	waitFor := func(what string, n int, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen (n=%d); ferry's log:\n%s", what, n, logs.String())
			}
			time.Sleep(50 * time.Millisecond) // a real ferry process: poll its output file and log
		}
	}
	lines := func() int { return len(statuses(t, out)) }
	waitFor("records with the first filter", 300, func() bool { return lines() >= 300 })

	write("status = 'paid'", out)
	waitFor("the reload", 0, func() bool { return strings.Contains(logs.String(), `"objects reloaded"`) })
	n := lines()
	waitFor("records with the second filter", n+300, func() bool { return lines() >= n+300 })

	write("nope = 1", out)
	waitFor("the refusal", 0, func() bool { return strings.Contains(logs.String(), "reload refused") })
	write("status = 'paid'", filepath.Join(dir, "elsewhere.jsonl"))
	waitFor("the restart warning", 0, func() bool { return strings.Contains(logs.String(), "not applied until ferry is restarted") })
	n = lines()
	waitFor("more records after the refused reload", n+200, func() bool { return lines() >= n+200 })

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry: %v\n%s", err, logs.String())
	}
	if strings.Count(logs.String(), `"objects reloaded"`) != 2 {
		t.Errorf("want 2 applied reloads (the filter, then the sink change's objects part):\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `sink block`) {
		t.Errorf("the restart warning does not name the sink block:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere.jsonl")); err == nil {
		t.Error("the sink's new path was applied without a restart")
	}
	// One boundary: 'new' records, then 'paid' records.
	st := statuses(t, out)
	switches, sawNew, sawPaid := 0, false, false
	for i, s := range st {
		switch s {
		case "new":
			sawNew = true
		case "paid":
			sawPaid = true
		default:
			t.Fatalf("record %d has status %q, which neither filter passes", i, s)
		}
		if i > 0 && s != st[i-1] {
			switches++
		}
	}
	if !sawNew || !sawPaid || switches != 1 {
		t.Errorf("statuses: new %v, paid %v, %d switches between them (want exactly 1)", sawNew, sawPaid, switches)
	}
}

// statuses returns the status of each record's row (after image, else before) in file order.
func statuses(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Value string `json:"value"` // the file sink's line holds the jsonl record
		}
		var l struct {
			Before map[string]any `json:"before"`
			After  map[string]any `json:"after"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			break // a line being written
		}
		if err := json.Unmarshal([]byte(rec.Value), &l); err != nil {
			t.Fatalf("record %q: %v", rec.Value, err)
		}
		row := l.After
		if row == nil {
			row = l.Before
		}
		s, _ := row["status"].(string)
		out = append(out, s)
	}
	return out
}

// lockedBuffer is a bytes.Buffer safe for a process's concurrent stdout and stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
