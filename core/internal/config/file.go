package config

import (
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/ferry-cdc/ferry/sdk"
)

// Options tune Parse and LoadFile. The zero value is ready to use.
type Options struct {
	// Vars are variable values given on the command line (--var name=value). They win over
	// the environment (FERRY_VAR_name) and over a variable's default. Setting a variable the
	// file does not declare is an error.
	Vars map[string]string
	// Env looks up environment variables for env() and FERRY_VAR_name; nil means
	// os.LookupEnv.
	Env func(name string) (string, bool)
	// ReadFile reads files for LoadFile and file(); nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
	// Specs optionally returns a plugin's schema already during phase 1 so that the values of
	// its secret attributes are masked in diagnostics printed before PluginBlock.Decode runs.
	// Parse does not decode plugin bodies with it. Without it (or when it reports false),
	// attributes whose names look secret (password, token, secret, ...) are masked until
	// Decode records the plugin's real secret attributes.
	Specs func(kind sdk.Kind, name string) (sdk.Spec, bool)
}

func (o Options) withDefaults() Options {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	return o
}

// File is a parsed pipeline file.
//
// A File is not safe for concurrent use: PluginBlock.Decode records the secret attributes of
// the block in it.
type File struct {
	// Filename is the name given to Parse (as the user wrote it); diagnostics use it.
	Filename string
	// Dir is the absolute directory of the file; relative paths in the file resolve
	// against it.
	Dir string
	// Variables are the declared variables: the templates' (in the order the templates are
	// listed), then the file's own, each in file order.
	Variables []*Variable
	// Pipeline is the file's pipeline, nil when the file has none (or does not parse). It
	// may be incomplete when Parse reported errors.
	Pipeline *Pipeline
	// Templates are the template files named by the file's template attribute that could be
	// read, in the order listed (a later one wins over an earlier one).
	Templates []*Template

	hcl          *hcl.File
	opts         Options
	vars         map[string]*Variable
	sources      map[string]*source // the file and its templates, by Filename
	varSecrets   secretSet
	blockSecrets map[hcl.Pos]blockSecrets // plugin blocks, keyed by DefRange.Start
	otherSecrets secretSet                // pipeline-level attributes that use sensitive variables
	guessed      []hcl.Range              // attributes anywhere whose names look secret
}

// Bytes returns the file's source text.
func (f *File) Bytes() []byte {
	if f == nil || f.hcl == nil {
		return nil
	}
	return f.hcl.Bytes
}

// Source returns the source text of the pipeline file or of one of its templates, by the
// file name diagnostics use (hcl.Range.Filename); nil for other names.
func (f *File) Source(filename string) []byte {
	if f == nil {
		return nil
	}
	if s := f.sources[filename]; s != nil && s.hcl != nil {
		return s.hcl.Bytes
	}
	return nil
}

// source is one file of the configuration: the pipeline file or a template.
type source struct {
	hcl *hcl.File
	dir string // absolute directory: relative paths written in the file start here
	// level orders the files for merging: 0 is the pipeline file, then the last listed
	// template is 1 and so on; a lower level wins.
	level int
	fnCtx *hcl.EvalContext // functions only (variable defaults, template paths)
	ctx   *hcl.EvalContext // functions and var.*
}

// addSource registers a parsed file.
func (f *File) addSource(filename, dir string, hf *hcl.File) *source {
	fns := f.functions(dir)
	s := &source{hcl: hf, dir: dir, fnCtx: &hcl.EvalContext{Functions: fns}}
	s.ctx = s.fnCtx
	f.sources[filename] = s
	return s
}

// sourceOf returns the file a range is in (the pipeline file for unknown names).
func (f *File) sourceOf(filename string) *source {
	if s := f.sources[filename]; s != nil {
		return s
	}
	return f.sources[f.Filename]
}

// level returns the merge level of the file a range is in (see source.level).
func (f *File) level(rng hcl.Range) int {
	if s := f.sourceOf(rng.Filename); s != nil {
		return s.level
	}
	return 0
}

// Variable is a declared variable.
type Variable struct {
	// Name is the variable's name (var.NAME).
	Name string
	// Description is the optional description.
	Description string
	// Sensitive variables never have their value printed.
	Sensitive bool
	// DefRange is the block header; NameRange the label.
	DefRange, NameRange hcl.Range

	value cty.Value // cty.DynamicVal when the variable has no value
}

// Pipeline is the decoded pipeline block.
type Pipeline struct {
	// Name is the pipeline's name: letters, digits, '_' and '-', at most 64 characters.
	Name string
	// Description is the optional description.
	Description string
	// Tags are the optional tags.
	Tags []string
	// Source, Serializer and Sink are the pipeline's plugins (zero when missing).
	Source PluginBlock
	// Filters are the filters, in file order.
	Filters []PluginBlock
	// Serializer turns changes into messages.
	Serializer PluginBlock
	// Sink writes the messages.
	Sink PluginBlock
	// Runtime holds batching and concurrency settings, defaults applied.
	Runtime Runtime
	// Checkpoint holds checkpoint settings, defaults applied.
	Checkpoint Checkpoint
	// Limits holds the rate ceilings (zero: unlimited).
	Limits Limits
	// Objects is the object selection (Present false: none; the source's own settings
	// decide which tables are read and every change goes to the sink's topic).
	Objects Objects
	// Resources is the resources block: presets and per-phase concurrency and memory
	// (zero values: not configured).
	Resources Resources
	// Retention is the retention block (Enabled false: absent, off).
	Retention Retention
	// DefRange is the block header; NameRange the label.
	DefRange, NameRange hcl.Range
	// Ranges maps the pipeline's own attributes (description, tags) to their expressions.
	Ranges map[string]hcl.Range
}

// Plugins returns the pipeline's plugin blocks in pipeline order (source, filters,
// serializer, sink), leaving out the missing ones.
func (p *Pipeline) Plugins() []*PluginBlock {
	var out []*PluginBlock
	add := func(b *PluginBlock) {
		if b.present {
			out = append(out, b)
		}
	}
	add(&p.Source)
	for i := range p.Filters {
		add(&p.Filters[i])
	}
	add(&p.Serializer)
	add(&p.Sink)
	return out
}

// Runtime defaults.
const (
	DefaultBatchSize        = 512
	DefaultBatchTimeout     = 50 * time.Millisecond
	DefaultWriters          = 4
	DefaultMaxInFlightBytes = 64 << 20
	DefaultDrainTimeout     = 30 * time.Second
	// DefaultStartupWait is 0: a source or sink that cannot be reached at start fails the
	// run at once, so a typo in an address is reported in seconds; a service started with
	// its database sets runtime.startup_wait (or ferry run --wait).
	DefaultStartupWait     = time.Duration(0)
	DefaultCheckpointDir   = ".ferry/checkpoints"
	DefaultCheckpointEvery = time.Second
	// DefaultLeaseTime is the shared checkpoint stores' lease time.
	DefaultLeaseTime = 10 * time.Second
	// StoreFile, StoreEtcd and StoreMySQL are the values of Checkpoint.Store.
	StoreFile  = "file"
	StoreEtcd  = "etcd"
	StoreMySQL = "mysql"
	// MaxWriters bounds Runtime.Writers.
	MaxWriters = 256
	// MinInFlightBytes bounds Runtime.MaxInFlightBytes from below.
	MinInFlightBytes = 1 << 20
	// OversizeFail and OversizeSkip are the values of Runtime.Oversize.
	OversizeFail = "fail"
	OversizeSkip = "skip"
)

// Runtime is the pipeline's runtime block.
type Runtime struct {
	// BatchSize is the number of records per sink write (>= 1).
	BatchSize int
	// BatchTimeout is the longest wait to fill a batch (> 0).
	BatchTimeout time.Duration
	// Writers is the number of parallel sink write lanes (1..256); order per key is kept.
	// Resources.FullWriteConcurrency and IncrementalWriteConcurrency, when not 0, take its
	// place in their phase.
	Writers int
	// MaxInFlightBytes bounds the memory of changes in flight (>= 1MiB). Resources.FullMemory
	// and IncrementalMemory, when not 0, take its place in their phase.
	MaxInFlightBytes int64
	// DrainTimeout is how long a graceful stop waits for in-flight writes (>= 0).
	DrainTimeout time.Duration
	// StartupWait is how long ferry run retries, with backoff, the prechecks' connectivity
	// checks and the plugins' Open while the source or the sink cannot be reached (>= 0; 0:
	// fail at once).
	StartupWait time.Duration
	// Oversize is what happens to a record the sink reports too large: OversizeFail (stop
	// the pipeline, the default) or OversizeSkip (log it, count it, append it to the
	// dead-letter file beside the checkpoint, and go on).
	Oversize string
	// KeyChange is what an UPDATE changing the key or the sharding columns becomes: "split"
	// (default) or "update".
	KeyChange string
	// DefRange is the block header (zero when the block is absent).
	DefRange hcl.Range
	// Ranges maps the attributes set in the file (or its templates) to their expressions.
	Ranges map[string]hcl.Range
}

// Checkpoint is the pipeline's checkpoint block.
type Checkpoint struct {
	// Dir is the absolute checkpoint directory (a relative dir starts at the directory of the
	// file it is written in: the pipeline file or a template).
	Dir string
	// Interval is how often the acknowledged position is saved (> 0).
	Interval time.Duration
	// Store is StoreFile (checkpoint and lease in Dir, the default), StoreEtcd or StoreMySQL
	// (shared by several processes of the pipeline: one active, the others standby; ADR 0014).
	Store string
	// LeaseTime is the shared store's lease: a standby takes over about this long after the
	// active stopped renewing it.
	LeaseTime time.Duration
	// Endpoints and Prefix are the etcd store's; Address, Database and Table the mysql
	// store's; User and Password either's (Password is a secret: never logged).
	Endpoints                []string
	Prefix                   string
	Address, Database, Table string
	User, Password           string
	// DefRange is the block header (zero when the block is absent).
	DefRange hcl.Range
	// Ranges maps the attributes set in the file to their expressions.
	Ranges map[string]hcl.Range
}

// PluginBlock is a source, filter, serializer or sink block. Its body is decoded in phase 2
// by Decode.
type PluginBlock struct {
	// Kind is the plugin's kind.
	Kind sdk.Kind
	// Name is the block's label: the plugin's name.
	Name string
	// Path is plugin_path resolved to an absolute path (relative to the directory of the file
	// it is written in), "" when not set.
	Path string
	// OutOfProcess is out_of_process: run a built-in plugin in a separate process.
	OutOfProcess bool
	// DefRange is the block header; LabelRange the label.
	DefRange, LabelRange hcl.Range
	// Body is the block's body without the reserved attributes; when a template has defaults
	// for the same plugin (kind and name), a body that falls back to them for the
	// attributes this block does not set.
	Body hcl.Body

	present    bool
	attrRanges map[string]hcl.Range // attribute name -> expression range
	file       *File
}
