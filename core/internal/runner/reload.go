package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
)

// reloader applies a changed objects block to a running pipeline (SIGHUP, or the file
// changed): tables, row filters, columns, sharding columns and topics. Everything else in the
// file needs a restart; a reload that changes it says so and applies the objects part only.
type reloader struct {
	path     string
	vars     map[string]string
	log      *zap.Logger
	l        *Loaded
	stage    *objects.Stage
	pl       *pipeline.Pipeline
	selector sdk.TableSelector // nil: the source's tables are its own (not from the objects block)
	// onResult, when set, learns each reload's outcome (nil: applied) for /status.
	onResult func(err error)
	// ready, when set, holds reloads back until it is closed (the pipeline opened its
	// plugins): a SIGHUP or a file change during the start-up wait applies once it is over.
	ready <-chan struct{}

	mu       sync.Mutex
	settings map[string]string // digest of each part outside the objects block, at start
	include  []string          // source tables set last
	exclude  []string
	stamp    string   // files' modification stamp at the last load
	files    []string // the pipeline file and the files it includes, at the last load
}

func newReloader(path string, vars map[string]string, log *zap.Logger, l *Loaded, stage *objects.Stage, pl *pipeline.Pipeline) *reloader {
	r := &reloader{path: path, vars: vars, log: log, l: l, stage: stage, pl: pl}
	r.settings = r.digest(l.File)
	if _, filled := l.File.Pipeline.HostTablesFilled(l.Source.Plugin.Spec()); stage != nil && filled {
		if s, ok := l.Source.Plugin.(sdk.TableSelector); ok {
			r.selector = s
			r.include, r.exclude = l.File.Pipeline.Objects.SourceTables()
		}
	}
	r.files = configFiles(l.File)
	r.stamp = filesStamp(r.files)
	return r
}

// digest renders what a reload cannot change: each plugin block's decoded configuration
// (without the source tables the objects block fills in) and the pipeline's settings.
func (r *reloader) digest(f *config.File) map[string]string {
	out := map[string]string{}
	p := f.Pipeline
	blocks := []*config.PluginBlock{&p.Source}
	insts := []*pluginRef{{r.l.Source.Plugin, r.l.Source.Ref.Name}}
	for i := range p.Filters {
		blocks = append(blocks, &p.Filters[i])
		if i < len(r.l.Filters) {
			insts = append(insts, &pluginRef{r.l.Filters[i].Plugin, r.l.Filters[i].Ref.Name})
		} else {
			insts = append(insts, nil)
		}
	}
	blocks = append(blocks, &p.Serializer, &p.Sink)
	insts = append(insts, &pluginRef{r.l.Serializer.Plugin, r.l.Serializer.Ref.Name}, &pluginRef{r.l.Sink.Plugin, r.l.Sink.Ref.Name})
	for i, b := range blocks {
		key := fmt.Sprintf("%s block %q", b.Kind, b.Name)
		if b.Kind == sdk.KindFilter {
			key = fmt.Sprintf("filter block %d (%q)", i, b.Name)
		}
		ref := insts[i]
		if ref == nil || ref.name != b.Name {
			out[key] = "plugin:" + b.Name + fmt.Sprint(b.OutOfProcess, b.Path)
			continue
		}
		cfg, diags := b.Decode(ref.p.Spec(), f)
		if diags.HasErrors() {
			out[key] = "invalid"
			continue
		}
		if b == &p.Source && p.Objects.Present {
			var err error
			if cfg, err = config.WithoutHostTables(ref.p.Spec(), cfg); err != nil {
				out[key] = "invalid"
				continue
			}
		}
		out[key] = fmt.Sprint(b.OutOfProcess, b.Path) + string(cfg)
	}
	rt := p.Runtime
	out["runtime block"] = fmt.Sprint(rt.BatchSize, rt.BatchTimeout, rt.Writers, rt.MaxInFlightBytes, rt.DrainTimeout, rt.Oversize)
	out["checkpoint block"] = fmt.Sprint(p.Checkpoint.Dir, p.Checkpoint.Interval)
	lm := p.Limits
	out["limits block"] = fmt.Sprint(lm.Full.RowsPerSecond, lm.Full.BytesPerSecond, lm.Incremental.RowsPerSecond, lm.Incremental.BytesPerSecond)
	out["resources block"] = resourcesDigest(p)
	out["pipeline name"] = p.Name
	out["objects block presence"] = fmt.Sprint(p.Objects.Present)
	return out
}

type pluginRef struct {
	p    sdk.Plugin
	name string
}

// Reload loads the file again and applies its objects block. Its outcome is handled here,
// once: a refusal (nothing applied) or a partial application (objects changed, but the source
// could not add tables) is logged with the reason and recorded for /status (onResult), as is
// a reload that applied.
func (r *reloader) Reload(ctx context.Context) {
	err := r.reload(ctx)
	var ref *refusal
	switch {
	case err == nil:
	case errors.As(err, &ref):
		fields := append(ref.fields, zap.Error(ref.err))
		if ref.warn {
			r.log.Warn(ref.msg, fields...)
		} else {
			r.log.Error(ref.msg, fields...)
		}
		err = ref.err
	default:
		r.log.Error("reload failed", zap.Error(err))
	}
	if r.onResult != nil {
		r.onResult(err)
	}
}

// refusal is why a reload was not (or only in part) applied: msg and fields for the log, err
// for /status.
type refusal struct {
	msg    string
	fields []zap.Field
	err    error
	warn   bool // logged as a warning: the file asks for what a reload cannot do
}

func (e *refusal) Error() string { return e.msg + ": " + e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }

func (r *reloader) reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, diags := config.LoadFile(r.path, config.Options{Vars: r.vars})
	if f != nil {
		r.files = configFiles(f)
	}
	r.stamp = filesStamp(r.files)
	if f == nil || f.Pipeline == nil || diags.HasErrors() {
		return r.fileRefusal(f, diags)
	}
	p := f.Pipeline
	if p.Name != r.l.File.Pipeline.Name {
		return &refusal{msg: "reload refused: the pipeline was renamed; a new name is a new pipeline, restart ferry to run it",
			fields: []zap.Field{zap.String("name", p.Name)}, err: errors.New("pipeline renamed")}
	}
	if restart := r.needRestart(f); len(restart) > 0 {
		r.log.Warn("changes outside the objects block are not applied until ferry is restarted",
			zap.Strings("changed", restart))
	}
	if r.stage == nil || !p.Objects.Present {
		if r.stage == nil && p.Objects.Present || r.stage != nil && !p.Objects.Present {
			return &refusal{msg: "adding or removing the whole objects block needs a restart; nothing was applied",
				err: errors.New("objects block added or removed"), warn: true}
		}
		return nil
	}
	sel := &p.Objects.Selection
	if err := r.stage.Validate(sel); err != nil {
		return &refusal{msg: "reload refused: the new objects block does not fit the tables' schemas; the previous selection stays", err: err}
	}
	old := r.stage.Selection()
	// The stage changes while nothing is in flight, so that a key's records routed the old
	// way are acknowledged before the first one routed the new way is sent.
	if err := r.pl.Quiesce(ctx, func() error {
		r.stage.SetSelection(sel)
		return nil
	}); err != nil {
		return fmt.Errorf("apply the objects block: %w", err)
	}
	added, removed := selectionDiff(old, sel)
	r.log.Info("objects reloaded", zap.Int("tables", len(sel.Tables)), zap.Int("rules", len(sel.Rules)),
		zap.Strings("added", added), zap.Strings("removed", removed))

	if r.selector == nil {
		return nil
	}
	include, exclude := p.Objects.SourceTables()
	if slices.Equal(include, r.include) && slices.Equal(exclude, r.exclude) {
		return nil
	}
	// After the stage: an added table's first rows (its snapshot) must find it selected.
	if err := r.selector.SetTables(ctx, sdk.TableSelection{Include: include, Exclude: exclude}); err != nil {
		if errors.Is(err, sdk.ErrNotSupported) {
			r.log.Warn("the source cannot change its tables while running: tables the reload adds are read after a restart",
				zap.String("source", r.l.Source.Ref.Name))
			r.selector = nil
			return nil
		}
		return &refusal{msg: "the source did not take the new tables; the objects block is applied to the tables it reads. Reload again to retry", err: err}
	}
	r.include, r.exclude = include, exclude
	r.log.Info("source tables changed", zap.Strings("tables", include), zap.Strings("exclude", exclude))
	return nil
}

// fileRefusal is the refusal of a file with errors: the log gets every diagnostic, /status
// the first error's place and summary.
func (r *reloader) fileRefusal(f *config.File, diags hcl.Diagnostics) *refusal {
	var buf bytes.Buffer
	config.SortDiagnostics(diags)
	_ = config.WriteDiagnostics(&buf, diags, f, false)
	ref := &refusal{msg: "reload refused: the pipeline file has errors; the pipeline keeps running as before",
		fields: []zap.Field{zap.String("file", r.path), zap.String("diagnostics", buf.String())},
		err:    fmt.Errorf("%s has errors", r.path)}
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			at := ""
			if d.Subject != nil {
				at = fmt.Sprintf(":%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
			}
			ref.err = fmt.Errorf("%s%s: %s", r.path, at, d.Summary)
			break
		}
	}
	return ref
}

// needRestart names the parts of f outside the objects block that differ from the file the
// pipeline started with (a reload does not apply them), sorted.
func (r *reloader) needRestart(f *config.File) []string {
	var restart []string
	now := r.digest(f)
	for k, v := range now {
		if r.settings[k] != v {
			restart = append(restart, k)
		}
	}
	for k := range r.settings {
		if _, ok := now[k]; !ok {
			restart = append(restart, k)
		}
	}
	slices.Sort(restart)
	return restart
}

// selectionDiff names the table entries and rules that appear only in b (added) or only in
// a (removed).
func selectionDiff(a, b *objects.Selection) (added, removed []string) {
	names := func(s *objects.Selection) map[string]bool {
		m := map[string]bool{}
		if s == nil {
			return m
		}
		for i := range s.Tables {
			m[strings.ToLower(s.Tables[i].Database+"."+s.Tables[i].Table)] = true
		}
		for i := range s.Rules {
			m["rule "+s.Rules[i].Name()] = true
		}
		return m
	}
	na, nb := names(a), names(b)
	for k := range nb {
		if !na[k] {
			added = append(added, k)
		}
	}
	for k := range na {
		if !nb[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// filesStamp is the modification time and size of files.
func filesStamp(files []string) string {
	var b strings.Builder
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, st.ModTime().UnixNano(), st.Size())
		}
	}
	return b.String()
}

// Watch reloads on SIGHUP and, when poll > 0, when the file (or a file it includes) changes,
// until ctx ends.
func (r *reloader) Watch(ctx context.Context, poll time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if r.ready != nil {
		select {
		case <-r.ready:
		case <-ctx.Done():
			return
		}
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP: reloading the objects block", zap.String("file", r.path))
			r.Reload(ctx)
		case <-tick:
			r.mu.Lock()
			changed := filesStamp(r.files) != r.stamp
			r.mu.Unlock()
			if changed {
				r.log.Info("the pipeline file changed: reloading the objects block", zap.String("file", r.path))
				r.Reload(ctx)
			}
		}
	}
}

// configFiles lists the pipeline file and the template files it includes.
func configFiles(f *config.File) []string {
	out := []string{filepath.Join(f.Dir, filepath.Base(f.Filename))}
	for _, t := range f.Templates {
		out = append(out, t.Path)
	}
	return out
}

func resourcesDigest(p *config.Pipeline) string {
	r := p.Resources
	return fmt.Sprint(r.FullReadConcurrency, r.FullWriteConcurrency, r.FullMemory, r.LogReaderMemory,
		r.IncrementalWriteConcurrency, r.IncrementalMemory)
}
