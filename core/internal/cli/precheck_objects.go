package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/sdk"
)

// Names of the objects block's prechecks (run by the host, not by a plugin).
const (
	CheckObjectTables  = "objects_tables"
	CheckObjectColumns = "objects_columns"
	CheckObjectTopics  = "objects_topics"
)

// objectsPlugin is the PLUGIN column of the objects block's checks.
const objectsPlugin = "objects block"

// maxTopicChecks bounds the distinct topics of the objects block precheck asks the sink about.
const maxTopicChecks = 50

// objectChecks checks the objects block against the live source and target, as run would
// meet them: every table entry names an existing table, every rule matches a table (a rule
// of a database that does not exist fails), the columns of where, columns and
// sharding_columns exist in each selected table, and each object's topic exists. Each
// problem names the object and where it is written (file:line:column).
func objectChecks(ctx context.Context, g *globals, l *loaded) []sdk.Check {
	o := &l.File.Pipeline.Objects
	if !o.Present {
		return nil
	}
	lister, tables, failed := listObjectTables(ctx, l, o)
	if failed != nil {
		return []sdk.Check{*failed}
	}
	s := selectObjects(o, tables)
	checks := []sdk.Check{objectTablesCheck(ctx, lister, o, s), objectColumnsCheck(s)}
	if c, ok := topicCheck(ctx, g, l, s.topics); ok {
		checks = append(checks, c)
	}
	return checks
}

// listObjectTables lists the source's tables the objects block may select; when they
// cannot be listed it returns the objects_tables check that says so instead.
func listObjectTables(ctx context.Context, l *loaded, o *config.Objects) (sdk.TableLister, []sdk.ListedTable, *sdk.Check) {
	lister, ok := l.Source.Plugin.(sdk.TableLister)
	if !ok {
		return nil, nil, &sdk.Check{Name: CheckObjectTables, Status: sdk.CheckWarn,
			Detail:      fmt.Sprintf("source %q cannot list tables: the objects block is checked when each table is first seen", l.Source.Ref.Name),
			Consequence: "a table, column or topic of the objects block that does not exist stops the pipeline when it is met"}
	}
	include, _ := o.SourceTables()
	tables, err := lister.ListTables(ctx, include)
	if errors.Is(err, sdk.ErrNotSupported) {
		return nil, nil, &sdk.Check{Name: CheckObjectTables, Status: sdk.CheckWarn,
			Detail:      fmt.Sprintf("source %q (%s) cannot list tables: the objects block is checked when each table is first seen", l.Source.Ref.Name, l.Source.Location),
			Consequence: "a table, column or topic of the objects block that does not exist stops the pipeline when it is met"}
	}
	if err != nil {
		return nil, nil, &sdk.Check{Name: CheckObjectTables, Status: sdk.CheckFail, Detail: "cannot list the tables the objects block selects: " + err.Error(),
			Consequence: "the objects block is checked only when each table is first seen"}
	}
	return lister, tables, nil
}

// objectSelection is what the objects block selects of the listed tables.
type objectSelection struct {
	found       map[string]bool     // every listed table, db.name in lower case
	perRule     []int               // tables each rule selects
	selected    int                 // selected base tables with a schema
	topics      map[string][]string // topic -> objects that write to it
	colProblems []string            // row filters, columns and sharding columns a schema lacks
}

// selectObjects resolves each listed table to its object and checks the object's columns
// against the table's schema.
func selectObjects(o *config.Objects, tables []sdk.ListedTable) objectSelection {
	s := objectSelection{found: map[string]bool{}, perRule: make([]int, len(o.Rules)), topics: map[string][]string{}}
	for _, t := range tables {
		s.found[strings.ToLower(t.Database+"."+t.Name)] = true
		obj, how, rule := o.Resolve(t.Database, t.Name)
		if obj == nil {
			continue
		}
		if how == objects.ByRule {
			s.perRule[rule]++
		}
		if t.Type != "BASE TABLE" || t.Schema == nil {
			continue // the source's own checks report these
		}
		s.selected++
		at, _ := o.Locate(t.Database, t.Name)
		if err := objects.Check(obj, t.Schema); err != nil {
			setting := "where"
			var ce *objects.ColumnError
			if errors.As(err, &ce) {
				setting = ce.Setting
			}
			s.colProblems = append(s.colProblems, fmt.Sprintf("%s: %v", pos(at.Range(setting)), err))
		}
		if obj.Topic != "" {
			s.topics[obj.Topic] = append(s.topics[obj.Topic], fmt.Sprintf("%s (%s)", t.Database+"."+t.Name, pos(at.Range("topic"))))
		}
	}
	return s
}

// objectTablesCheck fails for a table entry that names no table and for a rule of a
// database that does not exist, and warns for a rule that matches no table yet.
func objectTablesCheck(ctx context.Context, lister sdk.TableLister, o *config.Objects, s objectSelection) sdk.Check {
	c := sdk.Check{Name: CheckObjectTables, Status: sdk.CheckPass,
		Consequence: "the pipeline cannot start (a missing table or database fails the source), or streams nothing for that entry"}
	var tableProblems, ruleWarnings []string
	for i, t := range o.Tables {
		if !s.found[strings.ToLower(t.Name())] {
			tableProblems = append(tableProblems, fmt.Sprintf("%s: table %s does not exist (or the user cannot see it)", pos(o.TableAt[i].Def), t.Name()))
		}
	}
	for i, r := range o.Rules {
		if s.perRule[i] > 0 {
			continue
		}
		at := o.RuleAt[i].Def
		if !strings.Contains(r.Database, "*") {
			if ts, err := lister.ListTables(ctx, []string{r.Database + ".*"}); err == nil && len(ts) == 0 {
				tableProblems = append(tableProblems, fmt.Sprintf("%s: rule %q matches no table: database %s does not exist (or the user cannot see it)", pos(at), r.Name(), r.Database))
				continue
			}
		}
		ruleWarnings = append(ruleWarnings, fmt.Sprintf("%s: rule %q matches no table yet (tables created later join)", pos(at), r.Name()))
	}
	switch {
	case len(tableProblems) > 0:
		c.Status, c.Detail = sdk.CheckFail, strings.Join(append(tableProblems, ruleWarnings...), "; ")
	case len(ruleWarnings) > 0:
		c.Status, c.Detail = sdk.CheckWarn, strings.Join(ruleWarnings, "; ")
		c.Consequence = "the rule streams nothing until a table it matches is created"
	default:
		c.Detail = fmt.Sprintf("%d table(s) selected", s.selected)
	}
	return c
}

// objectColumnsCheck fails when a selected table lacks a column its object names.
func objectColumnsCheck(s objectSelection) sdk.Check {
	c := sdk.Check{Name: CheckObjectColumns, Status: sdk.CheckPass,
		Consequence: "the pipeline stops at the table's first change"}
	if len(s.colProblems) > 0 {
		c.Status, c.Detail = sdk.CheckFail, strings.Join(s.colProblems, "; ")
	} else {
		c.Detail = fmt.Sprintf("the row filters, columns and sharding columns of %d table(s) match their schemas", s.selected)
	}
	return c
}

// topicCheck asks the sink about each topic of the objects block: a copy of the sink is
// configured with the topic as its own (for sinks that declare a "topic" setting) and its
// topic checks run. False when there is nothing to check or the sink cannot be asked.
func topicCheck(ctx context.Context, g *globals, l *loaded, topics map[string][]string) (sdk.Check, bool) {
	var names []string
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	c := sdk.Check{Name: CheckObjectTopics, Status: sdk.CheckPass, Consequence: "the pipeline stops at the first change for that topic"}
	if len(names) == 0 || l.Host == nil {
		return c, false
	}
	if _, ok := l.Sink.Plugin.Spec().Attribute("topic"); !ok {
		return c, false
	}
	if _, ok := l.Sink.Plugin.(sdk.Prechecker); !ok {
		return c, false
	}
	sinkTopic := configuredTopic(l)
	more := 0
	if len(names) > maxTopicChecks {
		more, names = len(names)-maxTopicChecks, names[:maxTopicChecks]
	}
	var problems []string
	worst := sdk.CheckPass
	checked := 0
	for _, topic := range names {
		if topic == sinkTopic {
			continue // the sink's own precheck checks it
		}
		ps, status, ran := checkTopic(ctx, g, l, topic, strings.Join(topics[topic], ", "))
		problems = append(problems, ps...)
		worst = worseStatus(worst, status)
		if ran {
			checked++
		}
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("%d more topic(s) not checked", more))
		worst = worseStatus(worst, sdk.CheckWarn)
	}
	if checked == 0 && len(problems) == 0 {
		return c, false
	}
	c.Status = worst
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
	} else {
		c.Detail = fmt.Sprintf("%d topic(s) of the objects block exist", checked)
	}
	return c, true
}

// configuredTopic is the topic of the pipeline's sink block ("" when it has none or does
// not decode).
func configuredTopic(l *loaded) string {
	var cfgTopic struct {
		Topic string `json:"topic"`
	}
	if raw, d := l.File.Pipeline.Sink.Decode(l.Sink.Plugin.Spec(), nil); !d.HasErrors() {
		_ = json.Unmarshal(raw, &cfgTopic)
	}
	return cfgTopic.Topic
}

// checkTopic runs the topic checks of a copy of the sink configured with topic, which the
// objects users write to. It returns the problems found, the worst status, and whether the
// sink took the topic (and so counts as checked).
func checkTopic(ctx context.Context, g *globals, l *loaded, topic, users string) ([]string, sdk.CheckStatus, bool) {
	inst, _, d := loadPlugin(ctx, g.logger, l.Host, &l.File.Pipeline.Sink, nil, map[string]any{"topic": topic})
	if d.HasErrors() || inst == nil {
		return []string{fmt.Sprintf("topic %s of %s: the sink refuses it as its topic", topic, users)}, sdk.CheckFail, false
	}
	pc, _ := inst.Plugin.(sdk.Prechecker)
	cctx, cancel := context.WithTimeout(ctx, precheckTimeout)
	res, err := pc.Precheck(cctx)
	cancel()
	if inst.OutOfProcess() {
		inst.Kill()
	}
	if err != nil {
		return []string{fmt.Sprintf("topic %s of %s: the sink's checks could not run: %v", topic, users, err)}, sdk.CheckFail, true
	}
	var problems []string
	worst := sdk.CheckPass
	for _, r := range res {
		if r.Status == sdk.CheckPass || !strings.Contains(r.Name, "topic") {
			continue
		}
		problems = append(problems, fmt.Sprintf("%s: %s", users, r.Detail))
		if r.Status == sdk.CheckFail {
			worst = sdk.CheckFail
		} else if worst == sdk.CheckPass {
			worst = sdk.CheckWarn
		}
	}
	return problems, worst, true
}

// worseStatus is the worse of two of pass, warn and fail.
func worseStatus(a, b sdk.CheckStatus) sdk.CheckStatus {
	switch {
	case a == sdk.CheckFail || b == sdk.CheckFail:
		return sdk.CheckFail
	case a == sdk.CheckWarn || b == sdk.CheckWarn:
		return sdk.CheckWarn
	}
	return sdk.CheckPass
}

// pos renders a range as file:line:column.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
