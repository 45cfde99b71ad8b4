package canal

import (
	"strings"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
)

// DDLType returns the event type Canal 1.1.7 gives a DDL statement (its DruidDdlParser, the
// type of the statement's first result): CREATE (CREATE TABLE), ERASE (DROP TABLE),
// TRUNCATE, RENAME (RENAME TABLE, ALTER TABLE ... RENAME [TO]), CINDEX (CREATE INDEX, ALTER
// TABLE ... ADD INDEX/KEY/UNIQUE/PRIMARY KEY/FULLTEXT/SPATIAL), DINDEX (DROP INDEX, ALTER
// TABLE ... DROP INDEX/KEY/CONSTRAINT), ALTER (any other ALTER TABLE, and every ALTER TABLE
// that sets a table option), QUERY for the rest (databases, views, routines, users, and an
// ALTER TABLE whose only change adds a foreign key or a check, and statements Druid cannot
// parse: CREATE OR REPLACE, ALTER TABLE ... CHARSET=, IF [NOT] EXISTS, PARTITION BY, an
// executable comment). Canal decides by its first ALTER TABLE item; so does this. The rules
// were checked against Canal 1.1.7's DruidDdlParser on the statements of TestDDLType; this
// classification reads keywords only, so other syntax Druid rejects may get a type where
// Canal says QUERY.
func DDLType(stmt string) string {
	if strings.HasPrefix(strings.TrimLeft(stmt, " \t\r\n"), "/*!") {
		return "QUERY" // Druid reads an executable comment as a comment: no statement
	}
	toks := tokens(stmt, 64)
	word := func(i int) string {
		if i < len(toks) {
			return toks[i]
		}
		return ""
	}
	switch fmtkit.DDLVerb(stmt) {
	case "CREATE":
		i := 1
		if word(i) == "TEMPORARY" {
			i++
		}
		switch word(i) { // CREATE OR REPLACE and CREATE ONLINE INDEX are beyond Druid: QUERY
		case "TABLE":
			return "CREATE"
		case "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL":
			return "CINDEX"
		}
	case "DROP":
		i := 1
		if word(i) == "TEMPORARY" {
			i++
		}
		switch word(i) {
		case "TABLE":
			return "ERASE"
		case "INDEX":
			return "DINDEX"
		}
	case "TRUNCATE":
		return "TRUNCATE"
	case "RENAME":
		if word(1) == "TABLE" {
			return "RENAME"
		}
	case "ALTER":
		return alterType(toks)
	}
	return "QUERY"
}

// alterType classifies ALTER [ONLINE|OFFLINE] [IGNORE] TABLE name item, item, ...
func alterType(toks []string) string {
	i := 1
	for i < len(toks) && (toks[i] == "ONLINE" || toks[i] == "OFFLINE" || toks[i] == "IGNORE") {
		i++
	}
	if i >= len(toks) || toks[i] != "TABLE" {
		return "QUERY"
	}
	i++
	// the table name: name or name.name (a quoted name is one token)
	i++
	if i < len(toks) && toks[i] == "." {
		i += 2
	}
	var items [][]string
	cur := []string{}
	depth := 0
	for ; i < len(toks); i++ {
		switch t := toks[i]; t {
		case "(":
			depth++
		case ")":
			depth--
		case ",":
			if depth == 0 {
				items = append(items, cur)
				cur = []string{}
				continue
			}
		}
		if depth == 0 || (depth == 1 && toks[i] == "(") {
			cur = append(cur, toks[i])
		}
	}
	items = append(items, cur)
	for _, it := range items {
		if unparsed(it) {
			return "QUERY" // Druid cannot parse the statement
		}
	}
	for _, it := range items {
		if len(it) > 0 && tableOption(it) {
			return "ALTER" // table options give Canal's first result
		}
	}
	for _, it := range items {
		if t := alterItem(it); t != "" {
			return t
		}
	}
	return "QUERY"
}

// alterItem returns the type of one ALTER TABLE item, "" when Canal makes no result of it
// (ADD of a foreign key or check constraint).
func alterItem(it []string) string {
	w := func(i int) string {
		if i < len(it) {
			return it[i]
		}
		return ""
	}
	switch w(0) {
	case "RENAME":
		switch w(1) {
		case "COLUMN", "INDEX", "KEY":
			return "ALTER"
		}
		return "RENAME"
	case "ADD":
		j := 1
		if w(j) == "CONSTRAINT" {
			j++
			if w(j) != "UNIQUE" && w(j) != "PRIMARY" && w(j) != "FOREIGN" && w(j) != "CHECK" {
				j++ // the constraint's name
			}
		}
		switch w(j) {
		case "INDEX", "KEY", "UNIQUE", "PRIMARY", "FULLTEXT", "SPATIAL":
			return "CINDEX"
		case "FOREIGN", "CHECK":
			return ""
		}
		return "ALTER"
	case "DROP":
		switch w(1) {
		case "INDEX", "KEY", "CONSTRAINT":
			return "DINDEX"
		}
		return "ALTER"
	}
	return "ALTER"
}

// unparsed reports an ALTER TABLE item that Canal's Druid parser (1.2.17) rejects, making the
// whole statement QUERY: CHARSET=..., DEFAULT CHARSET=..., IF [NOT] EXISTS clauses (MariaDB),
// DROP CHECK, PARTITION BY.
func unparsed(it []string) bool {
	if len(it) == 0 {
		return false
	}
	if it[0] == "CHARSET" || it[0] == "PARTITION" || (it[0] == "DEFAULT" && len(it) > 1 && it[1] == "CHARSET") ||
		(it[0] == "DROP" && len(it) > 1 && it[1] == "CHECK") {
		return true
	}
	for i := 0; i+1 < len(it); i++ {
		if it[i] == "IF" && (it[i+1] == "EXISTS" || it[i+1] == "NOT") {
			return true
		}
	}
	return false
}

var tableOptions = map[string]bool{"ENGINE": true, "AUTO_INCREMENT": true, "AVG_ROW_LENGTH": true, "CHARSET": true,
	"CHARACTER": true, "COLLATE": true, "COMMENT": true, "ROW_FORMAT": true, "KEY_BLOCK_SIZE": true, "CHECKSUM": true,
	"COMPRESSION": true, "CONNECTION": true, "DELAY_KEY_WRITE": true, "ENCRYPTION": true, "INSERT_METHOD": true,
	"MAX_ROWS": true, "MIN_ROWS": true, "PACK_KEYS": true, "PASSWORD": true, "STATS_AUTO_RECALC": true,
	"STATS_PERSISTENT": true, "STATS_SAMPLE_PAGES": true, "TABLESPACE": true, "UNION": true}

func tableOption(it []string) bool {
	if it[0] == "DEFAULT" && len(it) > 1 {
		return tableOptions[it[1]]
	}
	return tableOptions[it[0]]
}

// tokens returns up to max tokens of stmt: words upper-cased, a quoted name or string as
// one token ("`"), and the punctuation ( ) , . = as themselves; comments are skipped (the
// body of an executable comment /*!NNNNN ... */ is read).
func tokens(stmt string, max int) []string {
	var out []string
	s := stmt
	for len(s) > 0 && len(out) < max {
		c := s[0]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';':
			s = s[1:]
		case strings.HasPrefix(s, "/*!"):
			s = strings.TrimLeft(s[3:], "0123456789")
		case strings.HasPrefix(s, "*/"):
			s = s[2:]
		case strings.HasPrefix(s, "/*"):
			j := strings.Index(s, "*/")
			if j < 0 {
				return out
			}
			s = s[j+2:]
		case strings.HasPrefix(s, "--") || c == '#':
			j := strings.IndexByte(s, '\n')
			if j < 0 {
				return out
			}
			s = s[j+1:]
		case c == '`' || c == '\'' || c == '"':
			j := 1
			for j < len(s) {
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				if s[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			out = append(out, "`")
			if j >= len(s) {
				return out
			}
			s = s[j+1:]
		case c == '(' || c == ')' || c == ',' || c == '.' || c == '=':
			out = append(out, s[:1])
			s = s[1:]
		default:
			j := 0
			for j < len(s) && !strings.ContainsRune(" \t\r\n;()`'\",.=", rune(s[j])) && !strings.HasPrefix(s[j:], "/*") {
				j++
			}
			if j == 0 {
				j = 1
			}
			out = append(out, strings.ToUpper(s[:j]))
			s = s[j:]
		}
	}
	return out
}
