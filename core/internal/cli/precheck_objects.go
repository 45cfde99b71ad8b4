package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

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
	lister, ok := l.Source.Plugin.(sdk.TableLister)
	if !ok {
		return []sdk.Check{{Name: CheckObjectTables, Status: sdk.CheckWarn,
			Detail:      fmt.Sprintf("source %q cannot list tables: the objects block is checked when each table is first seen", l.Source.Ref.Name),
			Consequence: "a table, column or topic of the objects block that does not exist stops the pipeline when it is met"}}
	}
	include, _ := o.SourceTables()
	tables, err := lister.ListTables(ctx, include)
	if errors.Is(err, sdk.ErrNotSupported) {
		return []sdk.Check{{Name: CheckObjectTables, Status: sdk.CheckWarn,
			Detail:      fmt.Sprintf("source %q (%s) cannot list tables: the objects block is checked when each table is first seen", l.Source.Ref.Name, l.Source.Location),
			Consequence: "a table, column or topic of the objects block that does not exist stops the pipeline when it is met"}}
	}
	if err != nil {
		return []sdk.Check{{Name: CheckObjectTables, Status: sdk.CheckFail, Detail: "cannot list the tables the objects block selects: " + err.Error(),
			Consequence: "the objects block is checked only when each table is first seen"}}
	}

	tablesCheck := sdk.Check{Name: CheckObjectTables, Status: sdk.CheckPass,
		Consequence: "the pipeline cannot start (a missing table or database fails the source), or streams nothing for that entry"}
	colsCheck := sdk.Check{Name: CheckObjectColumns, Status: sdk.CheckPass,
		Consequence: "the pipeline stops at the table's first change"}
	var tableProblems, ruleWarnings, colProblems []string

	found := map[string]bool{}
	perRule := make([]int, len(o.Rules))
	selected := 0
	topics := map[string][]string{} // topic -> objects that write to it
	for _, t := range tables {
		found[strings.ToLower(t.Database+"."+t.Name)] = true
		obj, how, rule := o.Resolve(t.Database, t.Name)
		if obj == nil {
			continue
		}
		if how == objects.ByRule {
			perRule[rule]++
		}
		if t.Type != "BASE TABLE" || t.Schema == nil {
			continue // the source's own checks report these
		}
		selected++
		at, _ := o.Locate(t.Database, t.Name)
		if err := objects.Check(obj, t.Schema); err != nil {
			setting := "where"
			var ce *objects.ColumnError
			if errors.As(err, &ce) {
				setting = ce.Setting
			}
			colProblems = append(colProblems, fmt.Sprintf("%s: %v", pos(at.Range(setting)), err))
		}
		if obj.Topic != "" {
			topics[obj.Topic] = append(topics[obj.Topic], fmt.Sprintf("%s (%s)", t.Database+"."+t.Name, pos(at.Range("topic"))))
		}
	}
	for i, t := range o.Tables {
		if !found[strings.ToLower(t.Name())] {
			tableProblems = append(tableProblems, fmt.Sprintf("%s: table %s does not exist (or the user cannot see it)", pos(o.TableAt[i].Def), t.Name()))
		}
	}
	for i, r := range o.Rules {
		if perRule[i] > 0 {
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
		tablesCheck.Status, tablesCheck.Detail = sdk.CheckFail, strings.Join(append(tableProblems, ruleWarnings...), "; ")
	case len(ruleWarnings) > 0:
		tablesCheck.Status, tablesCheck.Detail = sdk.CheckWarn, strings.Join(ruleWarnings, "; ")
		tablesCheck.Consequence = "the rule streams nothing until a table it matches is created"
	default:
		tablesCheck.Detail = fmt.Sprintf("%d table(s) selected", selected)
	}
	if len(colProblems) > 0 {
		colsCheck.Status, colsCheck.Detail = sdk.CheckFail, strings.Join(colProblems, "; ")
	} else {
		colsCheck.Detail = fmt.Sprintf("the row filters, columns and sharding columns of %d table(s) match their schemas", selected)
	}
	checks := []sdk.Check{tablesCheck, colsCheck}
	if c, ok := topicCheck(ctx, g, l, topics); ok {
		checks = append(checks, c)
	}
	return checks
}

// topicCheck asks the sink about each topic of the objects block: a copy of the sink is
// configured with the topic as its own (for sinks that declare a "topic" setting) and its
// topic checks run. False when there is nothing to check or the sink cannot be asked.
func topicCheck(ctx context.Context, g *globals, l *loaded, topics map[string][]string) (sdk.Check, bool) {
	sinkTopic := ""
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
	var cfgTopic struct {
		Topic string `json:"topic"`
	}
	sinkBlock := &l.File.Pipeline.Sink
	if raw, d := sinkBlock.Decode(l.Sink.Plugin.Spec(), nil); !d.HasErrors() {
		_ = json.Unmarshal(raw, &cfgTopic)
		sinkTopic = cfgTopic.Topic
	}
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
		inst, _, d := loadPlugin(ctx, g.logger, l.Host, sinkBlock, nil, map[string]any{"topic": topic})
		if d.HasErrors() || inst == nil {
			problems = append(problems, fmt.Sprintf("topic %s of %s: the sink refuses it as its topic", topic, strings.Join(topics[topic], ", ")))
			worst = sdk.CheckFail
			continue
		}
		checked++
		pc, _ := inst.Plugin.(sdk.Prechecker)
		cctx, cancel := context.WithTimeout(ctx, precheckTimeout)
		res, err := pc.Precheck(cctx)
		cancel()
		if inst.OutOfProcess() {
			inst.Kill()
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("topic %s of %s: the sink's checks could not run: %v", topic, strings.Join(topics[topic], ", "), err))
			worst = sdk.CheckFail
			continue
		}
		for _, r := range res {
			if r.Status == sdk.CheckPass || !strings.Contains(r.Name, "topic") {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s", strings.Join(topics[topic], ", "), r.Detail))
			if r.Status == sdk.CheckFail {
				worst = sdk.CheckFail
			} else if worst == sdk.CheckPass {
				worst = sdk.CheckWarn
			}
		}
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("%d more topic(s) not checked", more))
		if worst == sdk.CheckPass {
			worst = sdk.CheckWarn
		}
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

// pos renders a range as file:line:column.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
