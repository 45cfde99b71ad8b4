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
	toks := tokenize(q)
	var info ddlInfo
	if len(toks) == 0 {
		return info
	}
	switch strings.ToUpper(toks[0].s) {
	case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "FLASHBACK":
		info.isDDL = !toks[0].quoted
	default:
		return info
	}
	kw := func(i int, w string) bool { return i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].s, w) }
	// name reads a possibly qualified name at i and returns it and the next index.
	name := func(i int) (tableName, int, bool) {
		if i >= len(toks) || (!toks[i].quoted && !isIdent(toks[i].s)) {
			return tableName{}, i, false
		}
		if i+2 < len(toks) && toks[i+1].s == "." && !toks[i+1].quoted {
			return tableName{DB: toks[i].s, Name: toks[i+2].s}, i + 3, true
		}
		return tableName{DB: defaultDB, Name: toks[i].s}, i + 1, true
	}
	first := strings.ToUpper(toks[0].s)
	if first == "FLASHBACK" {
		// OceanBase: FLASHBACK TABLE t TO BEFORE DROP [RENAME TO n] brings a dropped table
		// back from the recycle bin, with its rows and without row events: it appears (as t,
		// or as n) like a table renamed into the name, so its schema is the catalog's and, in
		// mode both, its rows arrive as a new snapshot.
		if !kw(1, "TABLE") {
			info.isDDL = false
			return info
		}
		n, j, ok := name(2)
		if !ok {
			return info
		}
		for i := j; i+2 < len(toks); i++ {
			if kw(i, "RENAME") && kw(i+1, "TO") {
				if to, _, ok := name(i + 2); ok {
					n = to
				}
				break
			}
		}
		info.tables = append(info.tables, n)
		info.renamedTo = append(info.renamedTo, n)
		return info
	}
	if first == "RENAME" && (kw(1, "TABLE") || kw(1, "TABLES")) {
		i := 2
		for i < len(toks) {
			n, j, ok := name(i)
			if !ok {
				break
			}
			info.renamed = append(info.renamed, n)
			info.tables = append(info.tables, n)
			if !kw(j, "TO") {
				break
			}
			to, k, ok := name(j + 1)
			if !ok {
				break
			}
			info.tables = append(info.tables, to)
			info.renamedTo = append(info.renamedTo, to)
			i = k
			if i < len(toks) && toks[i].s == "," {
				i++
			}
		}
		return info
	}
	for i := 1; i < len(toks); i++ {
		if kw(i, "TABLE") || kw(i, "TABLES") || kw(i, "ON") || kw(i, "EXISTS") || kw(i, "LIKE") || (kw(i, "TO") && first != "ALTER") {
			j := i + 1
			for {
				n, k, ok := name(j)
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
	if first == "ALTER" && len(info.tables) > 0 {
		target := info.tables[0]
		for i := 1; i < len(toks); i++ {
			if kw(i, "RENAME") && !kw(i+1, "COLUMN") && !kw(i+1, "INDEX") && !kw(i+1, "KEY") {
				info.renamed = append(info.renamed, target)
				j := i + 1
				if kw(j, "TO") || kw(j, "AS") {
					j++
				}
				if to, _, ok := name(j); ok {
					info.tables = append(info.tables, to)
					info.renamedTo = append(info.renamedTo, to)
				}
				break
			}
		}
	}
	return info
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
