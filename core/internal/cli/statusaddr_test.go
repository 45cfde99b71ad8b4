package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// B16: two pipelines on one machine each serve their status on their own address (by
// default), and `ferry status FILE` / `ferry status NAME` read the right one; with two
// running and none named, status lists them.
func TestE2EStatusAddrPerPipeline(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	env := append(os.Environ(), "FERRY_RUN_DIR="+runDir)
	pipeline := func(name string) string {
		return writeFile(t, dir, name+".hcl", `pipeline "`+name+`" {
  source "generator" {
    rows  = 10
    count = 0
    rate  = 200
  }
  serializer "jsonl" {}
  sink "file" { path = `+strconv.Quote(filepath.Join(dir, name+".jsonl"))+` }
  checkpoint { dir = "cp" }
}
`)
	}
	ferry := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bins, "ferry"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	files := map[string]string{"alpha": pipeline("alpha"), "beta": pipeline("beta")}
	for name, f := range files {
		cmd := exec.Command(filepath.Join(bins, "ferry"), "--log-level", "warn", "run", "--no-precheck", f)
		cmd.Env = env
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s:\n%s", name, logs.String())
			}
		})
	}
	for name, f := range files {
		for _, arg := range []string{f, name} {
			var out string
			var err error
			// real ferry processes: poll until their status servers answer
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				out, err = ferry("status", arg)
				if err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil || !strings.Contains(out, "pipeline         "+name+"\n") {
				t.Errorf("ferry status %s: %v\n%s", arg, err, out)
			}
		}
	}
	out, err := ferry("status")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitUsage || !strings.Contains(out, "alpha") || !strings.Contains(out, "beta") {
		t.Errorf("ferry status with two running: %v\n%s", err, out)
	}
	if out, err := ferry("status", "gamma"); err == nil || !strings.Contains(out, `no pipeline named "gamma"`) {
		t.Errorf("ferry status gamma: %v\n%s", err, out)
	}
}
