package oceanbase

import (
	"strings"
	"unicode"
)

// ddlInfo is what the stream needs to know about a statement in a QUERY event.
type ddlInfo struct {
	// isDDL is set for CREATE, ALTER, DROP, RENAME, TRUNCATE and FLASHBACK TABLE statements.
	isDDL bool
	// renamed lists tables the statement renames (RENAME TABLE, ALTER TABLE ... RENAME TO).
	renamed []tableName
	// renamedTo lists the new names of the tables renamed (also in tables).
	renamedTo []tableName
	// tables lists every table the statement names after TABLE/TABLES/ON/INTO/TO or as a
	// qualified name (a superset is fine: each is only reloaded).
	tables []tableName
}

// classifyQuery recognises DDL on tables; defaultDB is the event's current database.
func classifyQuery(defaultDB, q string) ddlInfo {
	ts := ddlTokens{toks: tokenize(q), defaultDB: defaultDB}
	var info ddlInfo
	if len(ts.toks) == 0 {
		return info
	}
	first := strings.ToUpper(ts.toks[0].s)
	switch first {
	case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "FLASHBACK":
		info.isDDL = !ts.toks[0].quoted
	default:
		return info
	}
	switch {
	case first == "FLASHBACK":
		ts.flashback(&info)
	case first == "RENAME" && (ts.kw(1, "TABLE") || ts.kw(1, "TABLES")):
		ts.renameTables(&info)
	default:
		ts.namedTables(&info, first)
		if first == "ALTER" && len(info.tables) > 0 {
			ts.alterRename(&info)
		}
	}
	return info
}

// ddlTokens are the tokens of a statement classifyQuery reads, and the event's current
// database, which unqualified names are in.
type ddlTokens struct {
	toks      []token
	defaultDB string
}

// kw says whether the token at i is the unquoted keyword w.
func (ts ddlTokens) kw(i int, w string) bool {
	return i < len(ts.toks) && !ts.toks[i].quoted && strings.EqualFold(ts.toks[i].s, w)
}

// name reads a possibly qualified name at i and returns it and the next index.
func (ts ddlTokens) name(i int) (tableName, int, bool) {
	toks := ts.toks
	if i >= len(toks) || (!toks[i].quoted && !isIdent(toks[i].s)) {
		return tableName{}, i, false
	}
	if i+2 < len(toks) && toks[i+1].s == "." && !toks[i+1].quoted {
		return tableName{DB: toks[i].s, Name: toks[i+2].s}, i + 3, true
	}
	return tableName{DB: ts.defaultDB, Name: toks[i].s}, i + 1, true
}

// flashback reads OceanBase's FLASHBACK TABLE t TO BEFORE DROP [RENAME TO n], which brings
// a dropped table back from the recycle bin, with its rows and without row events: it
// appears (as t, or as n) like a table renamed into the name, so its schema is the catalog's
// and, in mode both, its rows arrive as a new snapshot.
func (ts ddlTokens) flashback(info *ddlInfo) {
	if !ts.kw(1, "TABLE") {
		info.isDDL = false
		return
	}
	n, j, ok := ts.name(2)
	if !ok {
		return
	}
	for i := j; i+2 < len(ts.toks); i++ {
		if ts.kw(i, "RENAME") && ts.kw(i+1, "TO") {
			if to, _, ok := ts.name(i + 2); ok {
				n = to
			}
			break
		}
	}
	info.tables = append(info.tables, n)
	info.renamedTo = append(info.renamedTo, n)
}

// renameTables reads the pairs of RENAME TABLE a TO b[, c TO d ...].
func (ts ddlTokens) renameTables(info *ddlInfo) {
	i := 2
	for i < len(ts.toks) {
		n, j, ok := ts.name(i)
		if !ok {
			break
		}
		info.renamed = append(info.renamed, n)
		info.tables = append(info.tables, n)
		if !ts.kw(j, "TO") {
			break
		}
		to, k, ok := ts.name(j + 1)
		if !ok {
			break
		}
		info.tables = append(info.tables, to)
		info.renamedTo = append(info.renamedTo, to)
		i = k
		if i < len(ts.toks) && ts.toks[i].s == "," {
			i++
		}
	}
}

// namedTables adds the names after TABLE, TABLES, ON, EXISTS, LIKE and (but in ALTER) TO,
// and the list after DROP TABLE; first is the statement's first word, upper case.
func (ts ddlTokens) namedTables(info *ddlInfo, first string) {
	toks := ts.toks
	for i := 1; i < len(toks); i++ {
		if ts.kw(i, "TABLE") || ts.kw(i, "TABLES") || ts.kw(i, "ON") || ts.kw(i, "EXISTS") || ts.kw(i, "LIKE") || (ts.kw(i, "TO") && first != "ALTER") {
			j := i + 1
			for {
				n, k, ok := ts.name(j)
				if !ok || isKeyword(toks[j]) {
					break
				}
				info.tables = append(info.tables, n)
				if k < len(toks) && toks[k].s == "," && first == "DROP" {
					j = k + 1
					continue
				}
				break
			}
		}
	}
}

// alterRename reads ALTER TABLE t ... RENAME [TO|AS] n (not RENAME COLUMN, INDEX or KEY):
// info.tables[0] is t.
func (ts ddlTokens) alterRename(info *ddlInfo) {
	target := info.tables[0]
	for i := 1; i < len(ts.toks); i++ {
		if ts.kw(i, "RENAME") && !ts.kw(i+1, "COLUMN") && !ts.kw(i+1, "INDEX") && !ts.kw(i+1, "KEY") {
			info.renamed = append(info.renamed, target)
			j := i + 1
			if ts.kw(j, "TO") || ts.kw(j, "AS") {
				j++
			}
			if to, _, ok := ts.name(j); ok {
				info.tables = append(info.tables, to)
				info.renamedTo = append(info.renamedTo, to)
			}
			break
		}
	}
}

var keywords = map[string]bool{"IF": true, "NOT": true, "EXISTS": true, "TEMPORARY": true, "ONLINE": true,
	"IGNORE": true, "WAIT": true, "NOWAIT": true, "CASCADE": true, "RESTRICT": true, "LIKE": true}

func isKeyword(t token) bool { return !t.quoted && keywords[strings.ToUpper(t.s)] }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

type token struct {
	s      string
	quoted bool
}

// tokenize splits a statement into identifiers (backquoted ones unquoted), words and single
// punctuation characters, skipping comments and string literals.
func tokenize(q string) []token {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || (c == '-' && i+2 < len(q) && q[i+1] == '-' && (q[i+2] == ' ' || q[i+2] == '\t')):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return out
			}
			body := q[i+2 : i+2+end]
			i += end + 4
			if strings.HasPrefix(body, "!") { // executable comment: tokenize its body
				body = strings.TrimLeft(body[1:], "0123456789")
				out = append(out, tokenize(body)...)
			}
		case c == '`':
			var b strings.Builder
			i++
			for i < len(q) {
				if q[i] == '`' {
					if i+1 < len(q) && q[i+1] == '`' {
						b.WriteByte('`')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			out = append(out, token{s: b.String(), quoted: true})
		case c == '\'' || c == '"':
			i++
			for i < len(q) && q[i] != c {
				if q[i] == '\\' {
					i++
				}
				i++
			}
			i++
			out = append(out, token{s: "''"})
		case c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z'):
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '$' || q[j] >= 0x80 || (q[j] >= '0' && q[j] <= '9') || (q[j]|0x20 >= 'a' && q[j]|0x20 <= 'z')) {
				j++
			}
			out = append(out, token{s: q[i:j]})
			i = j
		default:
			out = append(out, token{s: string(c)})
			i++
		}
	}
	return out
}
