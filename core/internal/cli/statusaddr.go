package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/config"
)

// Each running pipeline serves its status on its own address. By default (--status-addr
// auto) that is 127.0.0.1 and the port its last run used, when it is free, else a free
// port; the address is recorded in the pipeline's lease file (<checkpoint dir>/<name>.lock)
// and in a run entry in RunDir, so `ferry status FILE`, `ferry status NAME` and `ferry
// snapshot` find it.

// AutoStatusAddr is the --status-addr value that picks the pipeline's own address.
const AutoStatusAddr = "auto"

// autoStatusHost is the interface an automatic status address listens on.
const autoStatusHost = "127.0.0.1"

// statusListenAddr says where a run should serve its status: addr as given, or for "auto"
// the address its previous run recorded (if it was an automatic one on autoStatusHost and
// is free now), else a free port. "" means no status server.
func statusListenAddr(addr string, prev *checkpoint.Owner) string {
	if addr != AutoStatusAddr {
		return addr
	}
	if prev != nil && prev.StatusAddr != "" {
		if host, _, err := net.SplitHostPort(prev.StatusAddr); err == nil && host == autoStatusHost {
			if ln, err := net.Listen("tcp", prev.StatusAddr); err == nil {
				_ = ln.Close()
				return prev.StatusAddr
			}
		}
	}
	return net.JoinHostPort(autoStatusHost, "0")
}

// RunDir is where running pipelines leave a run entry: $FERRY_RUN_DIR, else ~/.ferry/run.
func RunDir() string {
	if d := os.Getenv("FERRY_RUN_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "ferry-run")
	}
	return filepath.Join(home, ".ferry", "run")
}

// runEntry is a running pipeline, as `ferry status` finds it by name.
type runEntry struct {
	Pipeline   string    `json:"pipeline"`
	File       string    `json:"file"`
	Checkpoint string    `json:"checkpoint_dir"`
	StatusAddr string    `json:"status_addr"`
	PID        int       `json:"pid"`
	Host       string    `json:"host"`
	Since      time.Time `json:"since"`
	path       string
}

// registerRun writes e's run entry and returns a function that removes it.
func registerRun(e runEntry) (func(), error) {
	dir := RunDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return func() {}, err
	}
	path := filepath.Join(dir, e.Pipeline+"."+strconv.Itoa(e.PID)+".json")
	data, _ := json.Marshal(e)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return func() {}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return func() {}, err
	}
	return func() { _ = os.Remove(path) }, nil
}

// runningPipelines lists the run entries of live processes on this host (entries of dead
// processes are removed), by name.
func runningPipelines() []runEntry {
	files, _ := filepath.Glob(filepath.Join(RunDir(), "*.json"))
	host, _ := os.Hostname()
	var out []runEntry
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var e runEntry
		if json.Unmarshal(data, &e) != nil || e.PID <= 0 {
			continue
		}
		if e.Host == host && !alive(e.PID) {
			_ = os.Remove(f)
			continue
		}
		e.path = f
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pipeline != out[j].Pipeline {
			return out[i].Pipeline < out[j].Pipeline
		}
		return out[i].File < out[j].File
	})
	return out
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// statusTarget is what `ferry status` reads: an address, and the pipeline expected there
// ("" when the address was given with --addr).
type statusTarget struct {
	addr, pipeline string
}

// findStatus finds the status address of the pipeline arg names: a pipeline file (its lease
// file), a pipeline name (the run entries), or with no arg the only running pipeline.
func findStatus(arg string, vars map[string]string) (statusTarget, error) {
	if arg != "" && looksLikeFile(arg) {
		f, diags := config.LoadFile(arg, config.Options{Vars: vars})
		if diags.HasErrors() || f == nil || f.Pipeline == nil {
			return statusTarget{}, withCode(ExitConfig, fmt.Errorf("%s: %s", arg, diags.Error()))
		}
		p := f.Pipeline
		o := checkpoint.ReadOwnerIn(p.Checkpoint.Dir, p.Name)
		if o == nil {
			return statusTarget{}, withCode(ExitFailure, fmt.Errorf("pipeline %q (%s) has never run: no lease file in %s", p.Name, arg, p.Checkpoint.Dir))
		}
		if o.StatusAddr == "" {
			return statusTarget{}, withCode(ExitFailure, fmt.Errorf("pipeline %q is not running, or runs without a status server (--status-addr \"\"); last run: %s", p.Name, o))
		}
		return statusTarget{addr: o.StatusAddr, pipeline: p.Name}, nil
	}
	runs := runningPipelines()
	var match []runEntry
	for _, e := range runs {
		if arg == "" || e.Pipeline == arg {
			match = append(match, e)
		}
	}
	switch {
	case len(match) == 1:
		return statusTarget{addr: match[0].StatusAddr, pipeline: match[0].Pipeline}, nil
	case len(match) == 0 && arg != "":
		return statusTarget{}, withCode(ExitFailure, fmt.Errorf("no pipeline named %q runs on this machine (entries in %s); name its file to read its lease: ferry status FILE", arg, RunDir()))
	case len(match) == 0:
		return statusTarget{}, withCode(ExitFailure, fmt.Errorf("no pipeline runs on this machine (entries in %s); name one: ferry status FILE|NAME, or --addr ADDR", RunDir()))
	}
	var b strings.Builder
	writeRuns(&b, match)
	what := "several pipelines run"
	if arg != "" {
		what = fmt.Sprintf("several pipelines named %q run", arg)
	}
	return statusTarget{}, withCode(ExitUsage, fmt.Errorf("%s; name one by its file (ferry status FILE):\n%s", what, strings.TrimRight(b.String(), "\n")))
}

func writeRuns(w io.Writer, runs []runEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PIPELINE\tFILE\tSTATUS\tPID")
	for _, e := range runs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", e.Pipeline, e.File, e.StatusAddr, e.PID)
	}
	_ = tw.Flush()
}

// looksLikeFile tells a pipeline file from a pipeline name (names have no '/' or '.').
func looksLikeFile(arg string) bool {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return true
	}
	return strings.ContainsAny(arg, "/.")
}
