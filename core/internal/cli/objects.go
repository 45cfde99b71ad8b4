package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/sdk"
)

// resolved is one row of `ferry objects`.
type resolved struct {
	obj    *objects.Object
	how    objects.How
	reason string // dropped when set
	note   string
}

// resolveObjects lists the selected tables through the source and resolves each.
func resolveObjects(ctx context.Context, l *loaded, sel *objects.Selection) ([]resolved, error) {
	lister, ok := l.Source.Plugin.(sdk.TableLister)
	if !ok {
		return nil, fmt.Errorf("source %q cannot list tables (it does not implement sdk.TableLister)", l.Source.Ref.Name)
	}
	include, _ := sel.SourceTables()
	tables, err := lister.ListTables(ctx, include)
	if errors.Is(err, sdk.ErrNotSupported) {
		return nil, fmt.Errorf("source %q (%s) cannot list tables (it does not implement sdk.TableLister)", l.Source.Ref.Name, l.Source.Location)
	}
	if err != nil {
		return nil, err
	}
	var out []resolved
	found := map[string]bool{}
	for _, t := range tables {
		found[strings.ToLower(t.Database+"."+t.Name)] = true
		obj, how, rule := sel.Resolve(t.Database, t.Name)
		r := resolved{obj: obj, how: how}
		name := t.Database + "." + t.Name
		switch {
		case how == objects.NotSelected:
			continue
		case how == objects.Excluded:
			r.obj = &objects.Object{Database: t.Database, Table: t.Name}
			r.reason = fmt.Sprintf("excluded (rule %q matches, and an exclude pattern too)", sel.Rules[rule].Name())
		case t.Type != "BASE TABLE":
			r.reason = fmt.Sprintf("not a base table (%s)", strings.ToLower(t.Type))
		case t.Problem != "":
			r.reason = t.Problem
		case t.Schema == nil:
			r.reason = "schema unknown"
		default:
			if _, _, err := objects.SplitName(name, false); err != nil {
				r.reason = "bad name: " + err.Error()
			} else if err := objects.Check(obj, t.Schema); err != nil {
				r.reason = err.Error()
			} else if len(t.Schema.PrimaryKey) == 0 {
				if k := t.Schema.KeyColumns(); len(k) == len(t.Schema.Columns) {
					r.note = "no primary or unique key: all columns are the key"
				} else {
					r.note = "no primary key: a unique key is the key"
				}
			}
		}
		out = append(out, r)
	}
	for i := range sel.Tables {
		t := sel.Tables[i]
		if !found[strings.ToLower(t.Name())] {
			out = append(out, resolved{obj: &t, how: objects.ByTable, reason: "does not exist (or the user cannot see it)"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].obj.Name() < out[j].obj.Name() })
	return out, nil
}

// sourceSelection is the selection of a pipeline without an objects block: the source's
// own tables (exact names as tables, patterns as rules) and exclude_tables.
func sourceSelection(l *loaded) (*objects.Selection, error) {
	include, exclude, ok, err := config.SourceTableSettings(l.Source.Plugin.Spec(), l.SourceConfig)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", l.Source.Ref.Name, err)
	}
	if !ok {
		return nil, fmt.Errorf("the pipeline has no objects block and source %q has no tables setting to list", l.Source.Ref.Name)
	}
	sel := &objects.Selection{Exclude: exclude}
	for _, name := range include {
		db, table, _ := strings.Cut(strings.TrimSpace(name), ".")
		o := objects.Object{Database: db, Table: table}
		if strings.Contains(name, "*") {
			sel.Rules = append(sel.Rules, o)
		} else {
			sel.Tables = append(sel.Tables, o)
		}
	}
	return sel, nil
}

func selectedCount(rows []resolved) int {
	n := 0
	for _, r := range rows {
		if r.reason == "" {
			n++
		}
	}
	return n
}

// printObjects prints the table of selected objects, then the dropped ones. fromSource says
// the selection is the source's tables setting (no objects block).
func printObjects(w io.Writer, rows []resolved, fromSource bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tTOPIC\tFILTER\tCOLUMNS\tSHARDING COLUMNS\tFROM")
	var dropped []resolved
	n := 0
	for _, r := range rows {
		if r.reason != "" {
			dropped = append(dropped, r)
			continue
		}
		n++
		o := r.obj
		topic := o.Topic
		if topic == "" {
			topic = "(sink topic)"
		}
		filter := o.Where
		if filter == "" {
			filter = "-"
		}
		cols := "(all)"
		if len(o.Columns) > 0 {
			cols = strings.Join(o.Columns, ",")
		}
		shard := "(key)"
		if len(o.ShardingColumns) > 0 {
			shard = strings.Join(o.ShardingColumns, ",")
		}
		if r.note != "" {
			shard += " [" + r.note + "]"
		}
		from := "table"
		if r.how == objects.ByRule {
			from = "rule"
		}
		if fromSource {
			from = "source tables"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Name(), topic, filter, cols, shard, from)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d object(s) selected, %d dropped\n", n, len(dropped))
	if len(dropped) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nDROPPED\tREASON")
		for _, r := range dropped {
			fmt.Fprintf(tw, "%s\t%s\n", r.obj.Name(), r.reason)
		}
		_ = tw.Flush()
	}
}

func newObjects(g *globals) *cobra.Command {
	var vars []string
	var exportPath, importPath, output, writeTo string
	var write bool
	cmd := &cobra.Command{
		Use:   "objects FILE",
		Short: "Resolve the pipeline's objects block against the live schema; export or import the object list as CSV",
		Long: `objects loads the pipeline file, asks the source for the tables its objects block
selects and prints, for each selected object, its topic, row filter, columns and sharding
columns, then every selected object that was dropped and why (not a base table, excluded, a
column that does not exist, a name the precheck refuses, ...). A pipeline without an objects
block is listed by what its source's tables (and exclude_tables) select.

--export FILE.csv writes the resolved objects (one row per table) as CSV with the columns
database,table,topic,row_filter,columns,sharding_columns (column lists comma-separated inside
their field). --import FILE.csv reads such a file (rows whose database or table contain '*'
are rules), checks every row and reports each bad one by line number; only when the whole
file is valid does it write the objects block: to stdout, to --write-to FILE, or with
--write into the pipeline file itself in place of its objects block. See docs/objects.md.
-o json prints {file, pipeline, valid, diagnostics, plugins, from, selected, dropped}.

Exit codes: 0 ok (at least one object selected), 1 the source could not list tables, 2 wrong
usage, 3 invalid pipeline file or CSV file, or every selected object was dropped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if exportPath != "" && importPath != "" {
				return withCode(ExitUsage, errors.New("--export and --import exclude each other"))
			}
			if importPath != "" && output != outputTable && output != outputJSON && writeTo == "" {
				writeTo, output = output, outputTable // the old --output FILE of --import
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			if importPath != "" {
				return importObjects(g, args[0], importPath, writeTo, write)
			}
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			return listObjects(cmd.Context(), g, args[0], vs, output, exportPath)
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&exportPath, "export", "", "write the resolved objects to this CSV file")
	cmd.Flags().StringVar(&importPath, "import", "", "read objects from this CSV file and write them as an objects block")
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&writeTo, "write-to", "", "with --import: write the objects block to this file instead of stdout")
	cmd.Flags().BoolVar(&write, "write", false, "with --import: replace the objects block of the pipeline FILE (atomically)")
	return cmd
}

// listObjects prints what the pipeline's objects block (or, without one, its source's tables)
// selects, resolved against the live schema, and with exportPath writes the selected objects
// there as CSV.
func listObjects(ctx context.Context, g *globals, path string, vs map[string]string, output, exportPath string) error {
	host, err := g.host()
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer host.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	l, head, err := loadForOutput(ctx, g, host, path, vs, output)
	if err != nil {
		if output == outputJSON {
			_ = writeJSON(g.stdout, objectsJSON{fileJSON: head, Selected: []objectJSON{}, Dropped: []droppedJSON{}})
		}
		return err
	}
	o := &l.File.Pipeline.Objects
	sel, fromSource := &o.Selection, false
	if !o.Present {
		if sel, err = sourceSelection(l); err != nil {
			return withCode(ExitConfig, fmt.Errorf("%s: %w", path, err))
		}
		fromSource = true
		fmt.Fprintf(g.stderr, "%s has no objects block: listing what the source's tables select (each table to the sink's topic, every column, sharded by its key)\n", path)
	}
	rows, err := resolveObjects(ctx, l, sel)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	if output == outputJSON {
		if err := writeJSON(g.stdout, objectsResult(head, rows, fromSource)); err != nil {
			return err
		}
	} else {
		printObjects(g.stdout, rows, fromSource)
	}
	if exportPath != "" {
		if err := exportObjects(g, rows, exportPath); err != nil {
			return err
		}
	}
	if selectedCount(rows) == 0 {
		return withCode(ExitConfig, fmt.Errorf("%s: no table the pipeline selects can be synchronized (%d dropped)", path, len(rows)))
	}
	return nil
}

// exportObjects writes the selected objects of rows to path as an objects CSV file.
func exportObjects(g *globals, rows []resolved, path string) error {
	var objs []objects.Object
	for _, r := range rows {
		if r.reason == "" {
			objs = append(objs, *r.obj)
		}
	}
	var buf bytes.Buffer
	if err := objects.WriteCSV(&buf, objs); err != nil {
		return withCode(ExitFailure, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return withCode(ExitFailure, err)
	}
	fmt.Fprintf(g.stderr, "exported %d object(s) to %s\n", len(objs), path)
	return nil
}

func importObjects(g *globals, pipelineFile, csvPath, output string, write bool) error {
	data, err := os.ReadFile(csvPath)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	sel, errs := objects.ReadCSV(bytes.NewReader(data))
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(g.stderr, "%s:%d: %s\n", csvPath, e.Line, e.Msg)
		}
		return withCode(ExitConfig, fmt.Errorf("%s: %d bad line(s); nothing was changed", csvPath, len(errs)))
	}
	if !write {
		out := config.ObjectsHCL(sel, "", "")
		if output == "" {
			_, err := g.stdout.Write(out)
			return err
		}
		if err := writeAtomic(output, out); err != nil {
			return withCode(ExitFailure, err)
		}
		fmt.Fprintf(g.stderr, "wrote %d table(s) and %d rule(s) to %s\n", len(sel.Tables), len(sel.Rules), output)
		return nil
	}
	src, err := os.ReadFile(pipelineFile)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	out, err := config.ReplaceObjectsBlock(src, pipelineFile, sel)
	if err != nil {
		return withCode(ExitConfig, fmt.Errorf("%s: %w", pipelineFile, err))
	}
	// The result must still be a valid pipeline file before it replaces the old one.
	if _, diags := config.Parse(pipelineFile, out, config.Options{}); diags.HasErrors() {
		return withCode(ExitConfig, fmt.Errorf("%s: the file with the imported objects would be invalid: %s; nothing was changed", pipelineFile, diags.Error()))
	}
	if err := writeAtomic(pipelineFile, out); err != nil {
		return withCode(ExitFailure, err)
	}
	fmt.Fprintf(g.stderr, "replaced the objects block of %s: %d table(s), %d rule(s)\n", pipelineFile, len(sel.Tables), len(sel.Rules))
	return nil
}

func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// objectsJSON is the -o json output of `ferry objects`.
type objectsJSON struct {
	fileJSON
	// From is "objects" (the objects block) or "source tables" (no objects block).
	From     string        `json:"from"`
	Selected []objectJSON  `json:"selected"`
	Dropped  []droppedJSON `json:"dropped"`
}

type objectJSON struct {
	Database        string   `json:"database"`
	Table           string   `json:"table"`
	Topic           string   `json:"topic,omitempty"`
	Where           string   `json:"where,omitempty"`
	Columns         []string `json:"columns,omitempty"`
	ShardingColumns []string `json:"sharding_columns,omitempty"`
	// By is "table" or "rule" (the entry of the objects block), or "source tables".
	By   string `json:"by"`
	Note string `json:"note,omitempty"`
}

type droppedJSON struct {
	Object string `json:"object"`
	Reason string `json:"reason"`
}

func objectsResult(head fileJSON, rows []resolved, fromSource bool) objectsJSON {
	out := objectsJSON{fileJSON: head, From: "objects", Selected: []objectJSON{}, Dropped: []droppedJSON{}}
	if fromSource {
		out.From = "source tables"
	}
	for _, r := range rows {
		if r.reason != "" {
			out.Dropped = append(out.Dropped, droppedJSON{Object: r.obj.Name(), Reason: r.reason})
			continue
		}
		by := "table"
		switch {
		case fromSource:
			by = "source tables"
		case r.how == objects.ByRule:
			by = "rule"
		}
		o := r.obj
		out.Selected = append(out.Selected, objectJSON{Database: o.Database, Table: o.Table, Topic: o.Topic, Where: o.Where,
			Columns: o.Columns, ShardingColumns: o.ShardingColumns, By: by, Note: r.note})
	}
	return out
}
