package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"

	"github.com/ferry-cdc/ferry/sdk"
)

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "template"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "pipeline", LabelNames: []string{"name"}},
	},
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "description"}, {Name: "sensitive"}},
}

var variableSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "description", Type: sdk.TypeString},
	{Name: "sensitive", Type: sdk.TypeBool, Default: false},
}}

var pipelineSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "description", Type: sdk.TypeString},
	{Name: "tags", Type: sdk.TypeStringList},
}}

// pluginKinds are the plugin block types in pipeline order.
var pluginKinds = []sdk.Kind{sdk.KindSource, sdk.KindFilter, sdk.KindSerializer, sdk.KindSink}

var kindNames = func() []string {
	out := make([]string, len(pluginKinds))
	for i, k := range pluginKinds {
		out[i] = string(k)
	}
	return out
}()

var pipelineSchema = func() *hcl.BodySchema {
	s := schemaFor(pipelineSpec)
	for _, k := range pluginKinds {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: string(k), LabelNames: []string{"name"}})
	}
	s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: "runtime"}, hcl.BlockHeaderSchema{Type: "checkpoint"},
		hcl.BlockHeaderSchema{Type: "limits"}, hcl.BlockHeaderSchema{Type: "objects"}, hcl.BlockHeaderSchema{Type: "resources"},
		hcl.BlockHeaderSchema{Type: "retention"})
	return s
}()

var runtimeSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "batch_size", Type: sdk.TypeInt, Default: int64(DefaultBatchSize), Min: sdk.Bound(1)},
	{Name: "batch_timeout", Type: sdk.TypeDuration, Default: DefaultBatchTimeout.String(), Min: sdk.Bound(0.001)},
	{Name: "writers", Type: sdk.TypeInt, Default: int64(DefaultWriters), Min: sdk.Bound(1), Max: sdk.Bound(MaxWriters)},
	{Name: "max_in_flight_bytes", Type: sdk.TypeSize, Default: int64(DefaultMaxInFlightBytes), Min: sdk.Bound(MinInFlightBytes)},
	{Name: "drain_timeout", Type: sdk.TypeDuration, Default: DefaultDrainTimeout.String(), Min: sdk.Bound(0)},
	{Name: "startup_wait", Type: sdk.TypeDuration, Default: DefaultStartupWait.String(), Min: sdk.Bound(0),
		Doc: "How long ferry run waits, retrying with backoff, for a source or sink that cannot be reached at start (the database or broker is not up yet), prechecks included; 0 fails at once. ferry run --wait overrides it."},
	{Name: "oversize", Type: sdk.TypeString, Default: OversizeFail, Enum: []string{OversizeFail, OversizeSkip}},
	{Name: "key_change", Type: sdk.TypeString, Default: "split", Enum: []string{"split", "update"},
		Doc: "An UPDATE that changes the key or the sharding-column values: split (a DELETE on the old key, then an INSERT on the new key, written after the DELETE is acknowledged) or update (one UPDATE on the new key's queue, not ordered with the old key)."},
}}

var checkpointSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "dir", Type: sdk.TypeString, Default: DefaultCheckpointDir},
	{Name: "interval", Type: sdk.TypeDuration, Default: DefaultCheckpointEvery.String(), Min: sdk.Bound(0.001)},
	// The shared stores (ADR 0014).
	{Name: "store", Type: sdk.TypeString, Default: StoreFile, Enum: []string{StoreFile, StoreEtcd, StoreMySQL}},
	{Name: "lease_time", Type: sdk.TypeDuration, Default: DefaultLeaseTime.String(), Min: sdk.Bound(2), Max: sdk.Bound(600)},
	{Name: "endpoints", Type: sdk.TypeStringList},
	{Name: "prefix", Type: sdk.TypeString, Default: "/ferry/"},
	{Name: "address", Type: sdk.TypeString},
	{Name: "database", Type: sdk.TypeString},
	{Name: "table", Type: sdk.TypeString, Default: "ferry_checkpoints"},
	{Name: "user", Type: sdk.TypeString, Default: ""},
	{Name: "password", Type: sdk.TypeString, Secret: true, Default: ""},
}}

// storeAttrs are the checkpoint attributes of each shared store (and which it needs).
var storeAttrs = map[string]struct{ own, required []string }{
	StoreFile:  {},
	StoreEtcd:  {own: []string{"endpoints", "prefix", "user", "password", "lease_time"}, required: []string{"endpoints"}},
	StoreMySQL: {own: []string{"address", "database", "table", "user", "password", "lease_time"}, required: []string{"address", "database"}},
}

var reservedSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "plugin_path", Type: sdk.TypeString},
	{Name: "out_of_process", Type: sdk.TypeBool, Default: false},
}}

var pipelineName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// LoadFile reads and parses a pipeline file (phase 1). Files named *.json are read as HCL's
// JSON syntax. On a read error the File is nil.
func LoadFile(path string, opts Options) (*File, hcl.Diagnostics) {
	opts = opts.withDefaults()
	src, err := opts.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read pipeline file",
			Detail:   err.Error(),
		}}
	}
	return Parse(path, src, opts)
}

// Parse parses a pipeline file (phase 1): its templates (read with Options.ReadFile, relative
// to the directory of filename), variables, the pipeline block with its settings, and the
// plugin blocks' headers and reserved attributes. The returned File is never nil, so
// diagnostics can always be rendered with its source; after syntax errors its Pipeline is
// nil.
func Parse(filename string, src []byte, opts Options) (*File, hcl.Diagnostics) {
	opts = opts.withDefaults()
	dir, err := filepath.Abs(filepath.Dir(filename))
	if err != nil {
		dir = filepath.Dir(filename)
	}
	f := &File{
		Filename:     filename,
		Dir:          dir,
		opts:         opts,
		vars:         map[string]*Variable{},
		sources:      map[string]*source{},
		blockSecrets: map[hcl.Pos]blockSecrets{},
	}
	hf, diags := parseSyntax(filename, src)
	f.hcl = hf
	f.addSource(filename, dir, hf)
	if sb, ok := hf.Body.(*hclsyntax.Body); ok {
		f.guessed = guessSecrets(sb, nil)
	}
	if diags.HasErrors() {
		f.guessed = append(f.guessed, guessLines(filename, src)...)
	}
	if diags.HasErrors() || hf.Body == nil {
		f.buildContexts()
		return f, f.finish(diags)
	}

	content, d := hf.Body.Content(rootSchema)
	diags = append(diags, d...)
	pipelines, d := f.decodeVariables(content)
	diags = append(diags, d...)
	f.buildContexts()
	diags = append(diags, f.decodePipelines(hf.Body, pipelines)...)
	return f, f.finish(diags)
}

// parseSyntax parses src as HCL, or as HCL's JSON syntax for a filename *.json. The file is
// never nil (without a body after some syntax errors).
func parseSyntax(filename string, src []byte) (*hcl.File, hcl.Diagnostics) {
	var hf *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(filename, ".json") {
		hf, diags = hcljson.Parse(src, filename)
	} else {
		hf, diags = hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	}
	if hf == nil {
		hf = &hcl.File{Bytes: src}
	}
	return hf, diags
}

// decodeVariables declares the variables of the templates, in the order they are listed,
// then the file's own, and resolves their values; it returns the pipeline blocks.
func (f *File) decodeVariables(content *hcl.BodyContent) ([]*hcl.Block, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var varBlocks []*hcl.Block
	if attr, ok := content.Attributes["template"]; ok {
		vb, d := f.loadTemplates(attr)
		diags = append(diags, d...)
		varBlocks = vb
	}
	var pipelines []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			varBlocks = append(varBlocks, b)
		case "pipeline":
			pipelines = append(pipelines, b)
		}
	}
	for _, b := range varBlocks {
		diags = append(diags, f.decodeVariable(b)...)
	}
	diags = append(diags, f.resolveVariables()...)
	return pipelines, diags
}

// decodePipelines decodes the file's one pipeline block into f.Pipeline, and reports a
// missing one and any other.
func (f *File) decodePipelines(body hcl.Body, pipelines []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(pipelines) == 0 && !hasRawBlock(body, "pipeline") {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing pipeline block",
			Detail:   `A pipeline file defines one pipeline: pipeline "NAME" { source "..." {} serializer "..." {} sink "..." {} }.`,
			Subject:  body.MissingItemRange().Ptr(),
		})
	}
	for i, b := range pipelines {
		if i > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate pipeline block",
				Detail: fmt.Sprintf("A file defines exactly one pipeline; pipeline %q is already defined on line %d. Put each pipeline in its own file.",
					pipelines[0].Labels[0], pipelines[0].DefRange.Start.Line),
				Subject: b.DefRange.Ptr(),
			})
			continue
		}
		p, d := f.decodePipeline(b)
		diags = append(diags, d...)
		f.Pipeline = p
	}
	return diags
}

// finish sorts diagnostics by position (those without a subject first) and redacts them.
func (f *File) finish(diags hcl.Diagnostics) hcl.Diagnostics {
	SortDiagnostics(diags)
	return redact(diags, f.secrets().values)
}

// SortDiagnostics orders diagnostics by file and position, those without a subject first
// (for merging the diagnostics of both phases before printing them).
func SortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// decodeVariable decodes one variable block (its value is resolved later).
func (f *File) decodeVariable(b *hcl.Block) hcl.Diagnostics {
	name := b.Labels[0]
	var diags hcl.Diagnostics
	if !hclsyntax.ValidIdentifier(name) {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   fmt.Sprintf("%q is not a valid variable name: use letters, digits, '_' and '-', starting with a letter.", name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	if prev, ok := f.vars[name]; ok {
		detail := fmt.Sprintf("Variable %q is already declared on line %d.", name, prev.DefRange.Start.Line)
		if prev.DefRange.Filename != b.DefRange.Filename {
			detail = fmt.Sprintf("Variable %q is already declared in %s on line %d. A variable is declared once: in the pipeline file or in one of its templates, whose variables the pipeline file can use.",
				name, prev.DefRange.Filename, prev.DefRange.Start.Line)
		}
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable block",
			Detail:   detail,
			Subject:  b.DefRange.Ptr(),
		})
	}
	v := &Variable{Name: name, DefRange: b.DefRange, NameRange: b.LabelRanges[0], value: cty.DynamicVal}
	f.vars[name] = v
	f.Variables = append(f.Variables, v)

	content, d := b.Body.Content(variableSchema)
	diags = append(diags, d...)
	// description and sensitive are constants: decode them before any variable exists.
	dec, d := f.decodeAttrs(content.Attributes, variableSpec, fmt.Sprintf("variable %q", name), b.DefRange)
	diags = append(diags, d...)
	v.Description, _ = dec.values["description"].(string)
	v.Sensitive, _ = dec.values["sensitive"].(bool)

	def, ok := content.Attributes["default"]
	if !ok {
		return diags
	}
	if v.Sensitive {
		f.varSecrets.ranges = append(f.varSecrets.ranges, def.Expr.Range())
	}
	if d := noVariables(def.Expr, "A variable's default cannot refer to variables; functions such as env() and file() are allowed."); len(d) > 0 {
		return append(diags, d...)
	}
	// Variable blocks may call functions but not refer to variables.
	val, d := def.Expr.Value(f.sourceOf(def.Expr.Range().Filename).fnCtx)
	diags = append(diags, d...)
	if !d.HasErrors() && !val.IsNull() {
		v.value = val
	}
	return diags
}

// resolveVariables applies --var and FERRY_VAR_name over the defaults and reports variables
// without a value and --var values for undeclared variables.
func (f *File) resolveVariables() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, v := range f.Variables {
		if s, ok := f.opts.Vars[v.Name]; ok {
			v.value = cty.StringVal(s)
		} else if s, ok := f.lookupVarEnv(v.Name); ok {
			v.value = cty.StringVal(s)
		}
		if v.value == cty.DynamicVal {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("No value for variable %q", v.Name),
				Detail: fmt.Sprintf("Variable %q has no default. Set it with --var %s=VALUE or the environment variable FERRY_VAR_%s.",
					v.Name, v.Name, v.Name),
				Subject: v.DefRange.Ptr(),
			})
			continue
		}
		if v.Sensitive {
			f.varSecrets.addValue(v.value)
		}
	}
	names := make([]string, 0, len(f.opts.Vars))
	for n := range f.opts.Vars {
		names = append(names, n)
	}
	sort.Strings(names)
	declarers := f.Filename + " declares no such variable"
	if len(f.Templates) > 0 {
		declarers = "neither " + f.Filename + " nor its templates declare such a variable"
	}
	for _, n := range names {
		if _, ok := f.vars[n]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("--var sets %q, but %s.%s",
					n, declarers, didYouMean(n, f.varNames())),
			})
		}
	}
	return diags
}

// lookupVarEnv reads FERRY_VAR_name, then FERRY_VAR_NAME (upper case).
func (f *File) lookupVarEnv(name string) (string, bool) {
	if s, ok := f.opts.Env("FERRY_VAR_" + name); ok {
		return s, true
	}
	if up := strings.ToUpper(name); up != name {
		return f.opts.Env("FERRY_VAR_" + up)
	}
	return "", false
}

// decodePipeline decodes the pipeline block.
func (f *File) decodePipeline(b *hcl.Block) (*Pipeline, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	p := &Pipeline{Name: b.Labels[0], DefRange: b.DefRange, NameRange: b.LabelRanges[0]}
	if !pipelineName.MatchString(p.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid pipeline name",
			Detail:   fmt.Sprintf("%q is not a valid pipeline name: use 1 to 64 letters, digits, '_' or '-', without spaces.", p.Name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	content, d := b.Body.Content(pipelineSchema)
	diags = append(diags, d...)

	dec, d := f.decodeAttrs(content.Attributes, pipelineSpec, fmt.Sprintf("pipeline %q", p.Name), b.DefRange)
	diags = append(diags, d...)
	f.otherSecrets.add(dec.secrets)
	p.Ranges = dec.ranges
	p.Description, _ = dec.values["description"].(string)
	p.Tags, _ = dec.values["tags"].([]string)

	settings, seen, d := f.decodePipelineBlocks(p, content.Blocks)
	diags = append(diags, d...)
	for _, k := range []sdk.Kind{sdk.KindSource, sdk.KindSerializer, sdk.KindSink} {
		// A block dropped for a missing label was reported already.
		if _, ok := seen[string(k)]; !ok && !hasRawBlock(b.Body, string(k)) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing %s block", k),
				Detail:   fmt.Sprintf("Pipeline %q needs exactly one %s block, such as %s %q { ... }.", p.Name, k, k, exampleName[k]),
				Subject:  b.DefRange.Ptr(),
			})
		}
	}
	diags = append(diags, f.decodeSettings(p, settings)...)
	return p, diags
}

// settingBlocks are the pipeline's blocks of its own settings (nil: absent).
type settingBlocks struct {
	runtime, checkpoint, limits, objects, resources, retention *hcl.Block
}

// decodePipelineBlocks decodes the plugin blocks into p, reports a second block of a type
// that takes one, and returns the settings blocks and the first block of each type.
func (f *File) decodePipelineBlocks(p *Pipeline, blocks hcl.Blocks) (settingBlocks, map[string]*hcl.Block, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var s settingBlocks
	seen := map[string]*hcl.Block{}
	for _, blk := range blocks {
		var pb PluginBlock
		if kind := sdk.Kind(blk.Type); contains(kindNames, blk.Type) {
			// Duplicates are decoded too: their values are checked and their secrets known.
			var d hcl.Diagnostics
			pb, d = f.decodePluginBlock(kind, f.pluginWithTemplates(blk))
			diags = append(diags, d...)
		}
		if blk.Type == string(sdk.KindFilter) {
			p.Filters = append(p.Filters, pb)
			continue
		}
		if first, dup := seen[blk.Type]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", blk.Type),
				Detail: fmt.Sprintf("A pipeline has at most one %s block; the first one is on line %d.",
					blk.Type, first.DefRange.Start.Line),
				Subject: blk.DefRange.Ptr(),
			})
			continue
		}
		seen[blk.Type] = blk
		switch blk.Type {
		case string(sdk.KindSource):
			p.Source = pb
		case string(sdk.KindSerializer):
			p.Serializer = pb
		case string(sdk.KindSink):
			p.Sink = pb
		case "runtime":
			s.runtime = blk
		case "checkpoint":
			s.checkpoint = blk
		case "limits":
			s.limits = blk
		case "objects":
			s.objects = blk
		case "resources":
			s.resources = blk
		case "retention":
			s.retention = blk
		}
	}
	return s, seen, diags
}

// decodeSettings decodes the pipeline's settings blocks (each merged with its templates'
// but objects) into p.
func (f *File) decodeSettings(p *Pipeline, s settingBlocks) hcl.Diagnostics {
	var diags, rd hcl.Diagnostics
	p.Runtime, rd = f.decodeRuntime(f.withTemplates("runtime", s.runtime))
	diags = append(diags, rd...)
	p.Checkpoint, rd = f.decodeCheckpoint(f.withTemplates("checkpoint", s.checkpoint))
	diags = append(diags, rd...)
	p.Limits, rd = f.decodeLimits(f.withTemplates("limits", s.limits))
	diags = append(diags, rd...)
	p.Objects, rd = f.decodeObjects(s.objects)
	diags = append(diags, rd...)
	p.Resources, rd = f.decodeResources(f.withTemplates("resources", s.resources))
	diags = append(diags, rd...)
	diags = append(diags, f.resolveResourceConflicts(&p.Runtime, &p.Resources)...)
	p.Retention, rd = f.decodeRetention(f.withTemplates("retention", s.retention))
	diags = append(diags, rd...)
	return diags
}

// hasRawBlock reports whether a native-syntax body has a block of the given type, even one
// that its schema rejected.
func hasRawBlock(body hcl.Body, typ string) bool {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return false
	}
	for _, b := range sb.Blocks {
		if b.Type == typ {
			return true
		}
	}
	return false
}

var exampleName = map[sdk.Kind]string{
	sdk.KindSource:     "oceanbase",
	sdk.KindSerializer: "canal",
	sdk.KindSink:       "rocketmq",
}

// blockAttrs returns a block's attributes checked against spec (nil block: none).
func (f *File) blockAttrs(b *hcl.Block, spec sdk.Spec, owner string) (decoded, hcl.Diagnostics) {
	if b == nil {
		return f.decodeAttrs(nil, spec, owner, hcl.Range{})
	}
	content, diags := b.Body.Content(schemaFor(spec))
	dec, d := f.decodeAttrs(content.Attributes, spec, owner, b.DefRange)
	f.otherSecrets.add(dec.secrets)
	return dec, append(diags, d...)
}

func (f *File) decodeRuntime(b *hcl.Block) (Runtime, hcl.Diagnostics) {
	dec, diags := f.blockAttrs(b, runtimeSpec, "the runtime block")
	r := Runtime{
		BatchSize:        int(intOr(dec.values["batch_size"], DefaultBatchSize)),
		BatchTimeout:     durationOr(dec.values["batch_timeout"], DefaultBatchTimeout),
		Writers:          int(intOr(dec.values["writers"], DefaultWriters)),
		MaxInFlightBytes: intOr(dec.values["max_in_flight_bytes"], DefaultMaxInFlightBytes),
		DrainTimeout:     durationOr(dec.values["drain_timeout"], DefaultDrainTimeout),
		StartupWait:      durationOr(dec.values["startup_wait"], DefaultStartupWait),
		Oversize:         OversizeFail,
		KeyChange:        "split",
		Ranges:           dec.ranges,
	}
	if v, ok := dec.values["oversize"].(string); ok && v != "" {
		r.Oversize = v
	}
	if v, ok := dec.values["key_change"].(string); ok {
		r.KeyChange = v
	}
	if b != nil {
		r.DefRange = b.DefRange
	}
	return r, diags
}

func (f *File) decodeCheckpoint(b *hcl.Block) (Checkpoint, hcl.Diagnostics) {
	dec, diags := f.blockAttrs(b, checkpointSpec, "the checkpoint block")
	c := Checkpoint{
		Interval: durationOr(dec.values["interval"], DefaultCheckpointEvery),
		Ranges:   dec.ranges,
	}
	if b != nil {
		c.DefRange = b.DefRange
	}
	dir, ok := dec.values["dir"].(string)
	if !ok {
		dir = DefaultCheckpointDir
	}
	if strings.TrimSpace(dir) == "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty checkpoint directory",
			Detail:   fmt.Sprintf("The checkpoint dir must name a directory; leave it out for the default %q.", DefaultCheckpointDir),
			Subject:  rangePtr(dec.ranges, "dir"),
		})
		dir = DefaultCheckpointDir
	}
	c.Dir = f.resolvePath(dir, dec.ranges["dir"])
	diags = append(diags, f.decodeStore(&c, dec, b)...)
	return c, diags
}

// decodeStore reads the shared-store settings of the checkpoint block: an attribute of
// another store, or a missing one the store needs, is an error at its place.
func (f *File) decodeStore(c *Checkpoint, dec decoded, b *hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	c.Store, _ = dec.values["store"].(string)
	if c.Store == "" {
		c.Store = StoreFile
	}
	c.LeaseTime = durationOr(dec.values["lease_time"], DefaultLeaseTime)
	c.Endpoints, _ = dec.values["endpoints"].([]string)
	c.Prefix, _ = dec.values["prefix"].(string)
	c.Address, _ = dec.values["address"].(string)
	c.Database, _ = dec.values["database"].(string)
	c.Table, _ = dec.values["table"].(string)
	c.User, _ = dec.values["user"].(string)
	c.Password, _ = dec.values["password"].(string)
	attrs, ok := storeAttrs[c.Store]
	if !ok {
		return diags // the enum check reported it
	}
	for _, name := range []string{"lease_time", "endpoints", "prefix", "address", "database", "table", "user", "password"} {
		rng, set := dec.ranges[name]
		if !set || slices.Contains(attrs.own, name) {
			continue
		}
		var for_ []string
		for _, st := range []string{StoreEtcd, StoreMySQL} {
			if slices.Contains(storeAttrs[st].own, name) {
				for_ = append(for_, fmt.Sprintf("%q", st))
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Setting of another checkpoint store",
			Detail:   fmt.Sprintf("%q is a setting of the store %s; this block's store is %q. Set store, or remove %q.", name, strings.Join(for_, " and "), c.Store, name),
			Subject:  rng.Ptr(),
		})
	}
	for _, name := range attrs.required {
		v := dec.values[name]
		if l, isList := v.([]string); isList && len(l) > 0 || !isList && v != nil && strings.TrimSpace(fmt.Sprint(v)) != "" {
			continue
		}
		subject := rangePtr(dec.ranges, "store")
		if subject == nil && b != nil {
			subject = b.DefRange.Ptr()
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing checkpoint store setting",
			Detail:   fmt.Sprintf("The %q checkpoint store needs %q.", c.Store, name),
			Subject:  rangePtrOr(dec.ranges, name, subject),
		})
	}
	return diags
}

func rangePtrOr(ranges map[string]hcl.Range, name string, def *hcl.Range) *hcl.Range {
	if r := rangePtr(ranges, name); r != nil {
		return r
	}
	return def
}

func rangePtr(ranges map[string]hcl.Range, name string) *hcl.Range {
	if r, ok := ranges[name]; ok {
		return &r
	}
	return nil
}

// resolvePath makes p absolute against the directory of the file where it is written (rng:
// its expression; the pipeline file for a zero range).
func (f *File) resolvePath(p string, rng hcl.Range) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	dir := f.Dir
	if s := f.sources[rng.Filename]; s != nil {
		dir = s.dir
	}
	return filepath.Join(dir, p)
}

func intOr(v any, def int64) int64 {
	if i, ok := v.(int64); ok {
		return i
	}
	return def
}

func durationOr(v any, def time.Duration) time.Duration {
	if s, ok := v.(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return def
}

// noVariables reports each variable reference in expr as an error with detail.
func noVariables(expr hcl.Expression, detail string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		rng := t.SourceRange()
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Variables not allowed",
			Detail:   detail,
			Subject:  &rng,
		})
	}
	return diags
}
