// Package objects decides which rows go where: the object selection of a pipeline (explicit
// db.table objects, wildcard match rules with exclusions, topic templates, row filters,
// column selection and sharding columns), its resolution against live schemas, and the
// runtime stage that applies it to changes before the pipeline's filters.
//
// Resolution of a table db.t:
//   - an explicit table entry for db.t wins;
//   - else the first rule whose pattern matches db.t, unless an exclude pattern matches it;
//   - else the table is not selected.
//
// Names and patterns compare case-insensitively (as the source does). In patterns '*'
// matches any run of characters (also none, also dots).
package objects

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-cdc/ferry/core/internal/objects/where"
	"github.com/ferry-cdc/ferry/sdk"
)

// Object is one entry of the selection: an explicit table or a rule.
type Object struct {
	// Database and Table name the table; for rules they are patterns ('*' any run).
	Database, Table string
	// Topic is the destination, "" for the sink's topic. It may use ${db} and ${table}.
	Topic string
	// Where is the row filter (a SQL condition without WHERE), "" for all rows.
	Where string
	// Columns are the columns sent in messages, nil for all.
	Columns []string
	// ShardingColumns choose the queue and order, nil for the key columns.
	ShardingColumns []string
}

// Name returns "db.table" (the pattern, for rules).
func (o *Object) Name() string { return o.Database + "." + o.Table }

// Selection is the objects block.
type Selection struct {
	// Tables are the explicit tables, in file order.
	Tables []Object
	// Rules are the match rules; the first matching one wins.
	Rules []Object
	// Exclude are db.table patterns no rule selects.
	Exclude []string
}

// Empty reports whether nothing is selected (no objects block).
func (s *Selection) Empty() bool {
	return s == nil || len(s.Tables) == 0 && len(s.Rules) == 0
}

// How says how a table was resolved.
type How int

const (
	// NotSelected: no table entry and no rule matches.
	NotSelected How = iota
	// ByTable: an explicit table entry.
	ByTable
	// ByRule: a match rule.
	ByRule
	// Excluded: a rule matches but an exclude pattern too.
	Excluded
)

// Resolve returns the object for table db.name with the topic template expanded, Database
// and Table set to the table's names, and how it was found; nil when it is not selected
// (how is NotSelected or Excluded). rule is the index of the matching rule (-1 otherwise).
func (s *Selection) Resolve(db, name string) (obj *Object, how How, rule int) {
	if s == nil {
		return nil, NotSelected, -1
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		if strings.EqualFold(t.Database, db) && strings.EqualFold(t.Table, name) {
			return s.concrete(t, db, name), ByTable, -1
		}
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		if !Match(r.Name(), db, name) {
			continue
		}
		for _, ex := range s.Exclude {
			if Match(ex, db, name) {
				return nil, Excluded, i
			}
		}
		return s.concrete(r, db, name), ByRule, i
	}
	return nil, NotSelected, -1
}

func (s *Selection) concrete(o *Object, db, name string) *Object {
	c := *o
	c.Database, c.Table = db, name
	c.Topic = ExpandTopic(o.Topic, db, name)
	return &c
}

// SourceTables returns what the source must read: the explicit tables and the rules'
// patterns (include), and the exclude patterns.
func (s *Selection) SourceTables() (include, exclude []string) {
	if s == nil {
		return nil, nil
	}
	for _, t := range s.Tables {
		include = append(include, t.Name())
	}
	for _, r := range s.Rules {
		include = append(include, r.Name())
	}
	return include, append([]string(nil), s.Exclude...)
}

// Match reports whether pattern ("db.table" with '*' for any run of characters) matches
// db.name, case-insensitively (sdk.MatchTable: the same syntax sources use).
func Match(pattern, db, name string) bool { return sdk.MatchTable(pattern, db, name) }

// MaxNameLen is the longest database or table name (MySQL's identifier limit).
const MaxNameLen = 64

// SplitName splits "db.table" and checks both parts; pattern allows '*'.
func SplitName(s string, pattern bool) (db, name string, err error) {
	db, name, ok := strings.Cut(s, ".")
	if !ok {
		return "", "", fmt.Errorf("%q is not db.table", s)
	}
	if strings.Contains(name, ".") {
		return "", "", fmt.Errorf("%q has more than one '.': names containing dots are not supported", s)
	}
	for _, part := range []struct{ what, v string }{{"database", db}, {"table", name}} {
		if err := checkIdent(part.what, part.v, pattern); err != nil {
			return "", "", fmt.Errorf("%q: %w", s, err)
		}
	}
	return db, name, nil
}

func checkIdent(what, v string, pattern bool) error {
	switch {
	case v == "":
		return fmt.Errorf("empty %s name", what)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s name is not valid UTF-8", what)
	case utf8.RuneCountInString(v) > MaxNameLen && !pattern:
		return fmt.Errorf("%s name is longer than %d characters", what, MaxNameLen)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s name starts or ends with a space", what)
	case strings.ContainsAny(v, "`"):
		return fmt.Errorf("%s name contains a backquote (write names without quotes)", what)
	case !pattern && strings.Contains(v, "*"):
		return fmt.Errorf("%s name contains '*': wildcards belong in rules and excludes", what)
	case strings.ContainsAny(v, "?[]"):
		return fmt.Errorf("%s name contains '?', '[' or ']': only '*' is a wildcard", what)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s name contains a control character", what)
		}
	}
	return nil
}

var topicVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// TopicVars are the names a topic template may use.
var TopicVars = []string{"db", "table"}

// CheckTopic checks a topic template: only ${db} and ${table}, and no unbalanced "${".
func CheckTopic(t string) error {
	for _, m := range topicVar.FindAllStringSubmatchIndex(t, -1) {
		name := t[m[2]:m[3]]
		if name != "db" && name != "table" {
			return fmt.Errorf("unknown template variable ${%s} at offset %d (use ${db} or ${table})", name, m[0])
		}
	}
	rest := topicVar.ReplaceAllString(t, "")
	if strings.Contains(rest, "${") {
		return errors.New("unterminated \"${\" (write ${db} or ${table})")
	}
	if strings.TrimSpace(t) != t {
		return errors.New("starts or ends with a space")
	}
	return nil
}

// ExpandTopic replaces ${db} and ${table} in a topic template.
func ExpandTopic(t, db, name string) string {
	if !strings.Contains(t, "${") {
		return t
	}
	return strings.NewReplacer("${db}", db, "${table}", name).Replace(t)
}

// CheckWhereSyntax checks a row filter without a schema: everything the stage would refuse
// for any table (syntax, unsupported operators, functions and subqueries, constants out of
// range); column names are checked when the table's schema is known. The error is a
// *where.Error with the position in the condition.
func CheckWhereSyntax(cond string) error {
	if strings.TrimSpace(cond) == "" {
		return &where.Error{Line: 1, Column: 1, Msg: "empty condition (leave where out to keep every row)"}
	}
	return where.CheckSyntax(cond)
}

// CheckColumnNames checks that a list of column names has no empty or repeated names.
func CheckColumnNames(cols []string) error {
	seen := map[string]bool{}
	for _, c := range cols {
		if strings.TrimSpace(c) == "" {
			return errors.New("empty column name")
		}
		k := strings.ToLower(c)
		if seen[k] {
			return fmt.Errorf("column %q is listed twice", c)
		}
		seen[k] = true
	}
	return nil
}
