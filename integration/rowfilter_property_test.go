//go:build integration

package integration

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// TestRowFilterAgreesWithMariaDB compares the row-filter evaluator with MariaDB's own
// SELECT ... WHERE on random rows and random conditions from the supported subset.
// FERRY_ROWFILTER_CONDITIONS sets how many conditions (default 4000), FERRY_ROWFILTER_SEED
// the seed (a number, or "random").
func TestRowFilterAgreesWithMariaDB(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB)
	const dbName = "ferry_rowfilter"
	db := harness.OpenMariaDB(t, dbName)
	if os.Getenv("FERRY_ROWFILTER_KEEP") == "" { // set it to look into a disagreement
		t.Cleanup(func() { harness.DropDatabase(t, dbName) })
	}
	db.SetMaxOpenConns(1) // one session: sql_mode below applies to every query
	rfExec(t, db, "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'")
	rfExec(t, db, "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")
	rfExec(t, db, "DROP TABLE IF EXISTS rf")
	rfExec(t, db, `CREATE TABLE rf (
		id INT NOT NULL PRIMARY KEY,
		i INT NULL,
		u BIGINT UNSIGNED NULL,
		d DECIMAL(10,2) NULL,
		f DOUBLE NULL,
		s VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
		s2 VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
		dt DATE NULL,
		ts DATETIME NULL,
		e ENUM('a','b','10','Zeta') NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`)

	// make test uses a fixed seed, so it never fails on conditions it has not met before;
	// FERRY_ROWFILTER_SEED=random (or FERRY_CHAOS=full) draws a new one each run, and a
	// disagreement found so becomes a unit test in core/internal/objects/where.
	seed := int64(1796225166569334372)
	if s := os.Getenv("FERRY_ROWFILTER_SEED"); s == "random" || s == "" && os.Getenv("FERRY_CHAOS") == "full" {
		seed = time.Now().UnixNano()
	} else if s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	n := 4000
	if s := os.Getenv("FERRY_ROWFILTER_CONDITIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (FERRY_ROWFILTER_SEED to repeat), %d conditions", seed, n)
	rnd := rand.New(rand.NewSource(seed))
	g := &rfGen{r: rnd}

	const rows = 60
	for id := 1; id <= rows; id++ {
		vals := []string{strconv.Itoa(id), g.intLit(true), g.uintLit(true), g.decLit(true), g.floatLit(true),
			g.strLit(true), g.strLit(true), g.dateLit(true), g.dtLit(true), g.enumLit()}
		rfExec(t, db, "INSERT INTO rf VALUES ("+strings.Join(vals, ",")+")")
	}

	table := &change.Table{Database: dbName, Name: "rf", Columns: []change.Column{
		{Name: "id", Type: "INT", ColumnType: "int(11)"},
		{Name: "i", Type: "INT", ColumnType: "int(11)", Nullable: true},
		{Name: "u", Type: "BIGINT", ColumnType: "bigint(20) unsigned", Unsigned: true, Nullable: true},
		{Name: "d", Type: "DECIMAL", ColumnType: "decimal(10,2)", Precision: 10, Scale: 2, Nullable: true},
		{Name: "f", Type: "DOUBLE", ColumnType: "double", Nullable: true},
		{Name: "s", Type: "VARCHAR", ColumnType: "varchar(80)", Charset: "utf8mb4", Length: 80, Nullable: true},
		{Name: "s2", Type: "VARCHAR", ColumnType: "varchar(80)", Charset: "utf8mb4", Length: 80, Nullable: true},
		{Name: "dt", Type: "DATE", ColumnType: "date", Nullable: true},
		{Name: "ts", Type: "DATETIME", ColumnType: "datetime", Nullable: true},
		{Name: "e", Type: "ENUM", ColumnType: "enum('a','b','10','Zeta')", Charset: "utf8mb4", Elems: rfEnum, Nullable: true},
	}, PrimaryKey: []int{0}}
	data := rfReadRows(t, db, table)

	conds := make([]string, n)
	wants := make([][]int, n)
	werrs := make([]error, n)
	for k := range conds {
		conds[k] = g.cond(3)
		wants[k], werrs[k] = rfMariaIDs(db, conds[k])
	}
	results := rfEvaluate(t, table, data, conds)

	var agree, bothErr, disagree, mariaErr, ourErr int
	var reports, notes []string
	for k, cond := range conds {
		want, werr := wants[k], werrs[k]
		res := results[k]
		if res.CompileError != "" {
			// Constant parts are evaluated by Compile, as MariaDB does before reading rows:
			// an out-of-range constant fails both.
			if !strings.Contains(res.CompileError, "out of range") {
				t.Fatalf("Compile(%q): %s", cond, res.CompileError)
			}
			res.Error = res.CompileError
		}
		var got []int
		for _, i := range res.Keep {
			got = append(got, int(data[i][0].Int()))
		}
		switch {
		case werr != nil && res.Error != "":
			bothErr++
		case werr != nil:
			mariaErr++
			if len(reports) < 40 {
				notes = append(notes, fmt.Sprintf("MariaDB fails, ferry does not: %s\n  MariaDB: %v", cond, werr))
			}
		case res.Error != "":
			ourErr++
			if len(reports) < 40 {
				notes = append(notes, fmt.Sprintf("ferry fails, MariaDB does not: %s\n  ferry: %v", cond, res.Error))
			}
		case fmt.Sprint(want) == fmt.Sprint(got):
			agree++
		default:
			disagree++
			if len(reports) < 40 {
				reports = append(reports, rfDescribe(cond, want, got, data))
			}
		}
	}
	t.Logf("%d conditions × %d rows: %d agree, %d both fail (out of range), %d disagree, %d only MariaDB fails, %d only ferry fails",
		n, len(data), agree, bothErr, disagree, mariaErr, ourErr)
	// Known deviation (docs/filters.md): whether an out-of-range error is raised can depend on
	// MariaDB's optimizer (which parts it folds or skips), so one-sided errors are logged.
	for _, r := range notes {
		t.Log("known deviation (evaluation error on one side only): " + r)
	}
	for _, r := range reports {
		t.Error(r)
	}
}

type rfEvalResult struct {
	Keep         []int  `json:"keep"`
	Error        string `json:"error"`
	CompileError string `json:"compile_error"`
}

// rfEvaluate runs the row-filter evaluator through cmd/wherecheck (core's packages are
// internal, so the test cannot import them).
func rfEvaluate(t *testing.T, table *change.Table, data [][]change.Value, conds []string) []rfEvalResult {
	bin := filepath.Join(t.TempDir(), "wherecheck")
	build := exec.Command("go", "build", "-o", bin, "github.com/ferry-cdc/ferry/core/internal/objects/where/cmd/wherecheck")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wherecheck: %v\n%s", err, out)
	}
	rows := make([][][3]any, len(data))
	for i, r := range data {
		rows[i] = make([][3]any, len(r))
		for j, v := range r {
			k, n, s := v.Raw()
			rows[i][j] = [3]any{k, strconv.FormatUint(n, 10), s}
		}
	}
	in, err := json.Marshal(map[string]any{"table": table, "rows": rows, "conds": conds})
	if err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv("FERRY_ROWFILTER_DUMP"); d != "" {
		_ = os.WriteFile(d, in, 0o644) // the wherecheck input, to replay a crash
	}
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wherecheck: %v\n%s", err, stderr.String())
	}
	var resp struct {
		Results []rfEvalResult `json:"results"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Results) != len(conds) {
		t.Fatalf("wherecheck output: %v (%d results for %d conditions)", err, len(resp.Results), len(conds))
	}
	return resp.Results
}

func rfExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func rfMariaIDs(db *sql.DB, cond string) ([]int, error) {
	rs, err := db.Query("SELECT id FROM rf WHERE " + cond + " ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var ids []int
	for rs.Next() {
		var id int
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// rfReadRows reads every row with SELECT * as text and decodes it into change.Values.
func rfReadRows(t *testing.T, db *sql.DB, table *change.Table) [][]change.Value {
	rs, err := db.Query("SELECT id, i, u, d, f, s, s2, CAST(dt AS CHAR), CAST(ts AS CHAR), e FROM rf ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out [][]change.Value
	for rs.Next() {
		raw := make([]sql.NullString, len(table.Columns))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]change.Value, len(raw))
		for i, r := range raw {
			if !r.Valid {
				continue
			}
			row[i] = rfDecode(t, table.Columns[i], r.String)
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rfDecode(t *testing.T, c change.Column, s string) change.Value {
	switch c.Type {
	case "INT":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return change.NewInt(n)
	case "BIGINT":
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return change.NewUint(n)
	case "DECIMAL":
		return change.MustDecimal(s)
	case "DOUBLE":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return change.NewFloat64(f)
	case "DATE":
		var y, m, d int
		fmt.Sscanf(s, "%d-%d-%d", &y, &m, &d)
		v, err := change.NewDate(y, m, d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	case "DATETIME":
		var y, mo, d, h, mi, se int
		fmt.Sscanf(s, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &se)
		v, err := change.NewDateTime(change.Temporal{Year: uint16(y), Month: uint8(mo), Day: uint8(d),
			Hour: uint16(h), Minute: uint8(mi), Second: uint8(se)}, false)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if c.Type == "ENUM" {
		for i, e := range c.Elems {
			if e == s {
				return change.NewEnum(s, uint64(i+1))
			}
		}
		t.Fatalf("ENUM value %q not among %v", s, c.Elems)
	}
	return change.NewString(s)
}

// rfEnum are the elements of column e: one numeric-looking, case variants of rfWords.
var rfEnum = []string{"a", "b", "10", "Zeta"}

func (g *rfGen) enumLit() string {
	if g.null(true) {
		return "NULL"
	}
	return "'" + rfEnum[g.r.Intn(len(rfEnum))] + "'"
}

func rfDescribe(cond string, want, got []int, data [][]change.Value) string {
	in := func(xs []int, x int) bool {
		i := sort.SearchInts(xs, x)
		return i < len(xs) && xs[i] == x
	}
	var b strings.Builder
	fmt.Fprintf(&b, "disagreement on %s\n  MariaDB keeps %v\n  ferry keeps   %v", cond, want, got)
	shown := 0
	for _, r := range data {
		id := int(r[0].Int())
		if in(want, id) != in(got, id) && shown < 3 {
			fmt.Fprintf(&b, "\n  row %v (MariaDB %v, ferry %v)", r, in(want, id), in(got, id))
			shown++
		}
	}
	return b.String()
}

// rfGen makes random literals and conditions over table rf.
type rfGen struct{ r *rand.Rand }

func (g *rfGen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g *rfGen) null(nullable bool) bool { return nullable && g.r.Intn(8) == 0 }

func (g *rfGen) intLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	switch g.r.Intn(6) {
	case 0:
		return g.pick("0", "1", "-1", "2147483647", "-2147483648")
	default:
		return strconv.Itoa(g.r.Intn(201) - 100)
	}
}

func (g *rfGen) uintLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	switch g.r.Intn(6) {
	case 0:
		return g.pick("0", "18446744073709551615", "9223372036854775808", "9223372036854775807")
	default:
		return strconv.Itoa(g.r.Intn(200))
	}
}

func (g *rfGen) decLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	v := g.r.Intn(40001) - 20000
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

func (g *rfGen) floatLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	switch g.r.Intn(5) {
	case 0:
		return g.pick("0e0", "1e10", "-2.5e-3", "0.1e0", "1.5e16")
	default:
		return fmt.Sprintf("%de0", g.r.Intn(401)-200)
	}
}

var rfWords = []string{"", " ", "a", "A", "abc", "ABC", "Abc ", "b", "x_y", "x%y", "50%", "a_b", "10", "-3",
	"1e2", "007", "2.50", "12abc", " 5", "abc\\\\", "Zeta", "zeta", "mIxEd", "_", "%", "2024-01-15",
	"2023-12-31 23:59:59", "0.1", "-0.0"}

func (g *rfGen) strLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	w := rfWords[g.r.Intn(len(rfWords))]
	if g.r.Intn(4) == 0 {
		w += rfWords[g.r.Intn(len(rfWords))]
	}
	return "'" + w + "'"
}

func (g *rfGen) dateLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	return fmt.Sprintf("'%04d-%02d-%02d'", 2020+g.r.Intn(6), 1+g.r.Intn(12), 1+g.r.Intn(28))
}

func (g *rfGen) dtLit(nullable bool) string {
	if g.null(nullable) {
		return "NULL"
	}
	return fmt.Sprintf("'%04d-%02d-%02d %02d:%02d:%02d'", 2020+g.r.Intn(6), 1+g.r.Intn(12), 1+g.r.Intn(28),
		g.r.Intn(24), g.r.Intn(60), g.r.Intn(60))
}

// column picks a non-temporal column. DATE/DATETIME columns are compared only with
// temporal operands (pair, case 2): comparing them with arbitrary strings is a documented
// deviation (MariaDB's date parsing is more lenient than ferry's; docs/filters.md).
func (g *rfGen) column() string {
	return g.pick("id", "i", "u", "d", "f", "s", "s2", "`i`", "`s`", "e")
}

// num makes a numeric-ish operand.
func (g *rfGen) num(depth int) string {
	switch k := g.r.Intn(10); {
	case k < 4:
		return g.pick("id", "i", "u", "d", "f", "`d`")
	case k < 6 || depth <= 0:
		return g.pick(g.intLit(false), g.decLit(false), g.floatLit(false), g.uintLit(false), g.strLit(false), "NULL")
	case k < 9:
		op := g.pick("+", "-", "*", "/", "DIV", "%")
		a, b := g.num(depth-1), g.num(depth-1)
		if op == "%" && (strings.Contains(a, "d") || strings.Contains(b, "d") || strings.Contains(a, ".") || strings.Contains(b, ".")) {
			// DECIMAL % can give MariaDB's negative decimal zero (-0.00), which compares in
			// ways ferry does not model: a documented deviation (docs/filters.md).
			op = "DIV"
		}
		return "(" + a + " " + op + " " + b + ")"
	default:
		return "-" + g.num(depth-1)
	}
}

// str makes a string-ish operand.
func (g *rfGen) str(depth int) string {
	switch k := g.r.Intn(10); {
	case k < 5:
		return g.pick("s", "s2", "`s`", "e")
	case k < 8 || depth <= 0:
		return g.strLit(false)
	case k < 9:
		return "CONCAT(" + g.str(depth-1) + ", " + g.operand(depth-1) + ")"
	default:
		if g.r.Intn(2) == 0 {
			return fmt.Sprintf("SUBSTR(%s, %d)", g.str(depth-1), g.r.Intn(7)-3)
		}
		return fmt.Sprintf("SUBSTRING(%s, %d, %d)", g.str(depth-1), g.r.Intn(7)-3, g.r.Intn(5)-1)
	}
}

func (g *rfGen) temporal() string {
	switch g.r.Intn(3) {
	case 0:
		return g.pick("dt", "ts")
	case 1:
		return g.dateLit(false)
	}
	return g.dtLit(false)
}

func (g *rfGen) operand(depth int) string {
	switch g.r.Intn(5) {
	case 0, 1:
		return g.num(depth)
	case 2, 3:
		return g.str(depth)
	}
	return g.column()
}

func (g *rfGen) pair(depth int) (string, string) {
	switch g.r.Intn(6) {
	case 0:
		return g.num(depth), g.num(depth)
	case 1:
		return g.str(depth), g.str(depth)
	case 2:
		return g.pick("dt", "ts"), g.temporal()
	default:
		return g.operand(depth), g.operand(depth)
	}
}

func (g *rfGen) likePattern() string {
	p := g.pick("%", "a%", "%a%", "A_c", "x\\_y", "x\\%y", "%\\%", "_", "__", "%c ", "1%", "-%", "50!%", "%E%", "2024-%")
	if strings.Contains(p, "!") {
		return "'" + p + "' ESCAPE '!'"
	}
	return "'" + p + "'"
}

// rfHuge matches an integer constant of 19 or more digits (beyond signed BIGINT or close).
var rfHuge = regexp.MustCompile(`[0-9]{19,}`)

func (g *rfGen) pred(depth int) string {
	switch g.r.Intn(9) {
	case 0, 1, 2:
		a, b := g.pair(depth)
		return a + " " + g.pick("=", "<>", "!=", "<", "<=", ">", ">=", "<=>") + " " + b
	case 3:
		// Bounds of one type family: BETWEEN over mixed string and number bounds is a
		// documented deviation (docs/filters.md).
		var a, b, c string
		switch g.r.Intn(3) {
		case 0:
			// Without constants beyond BIGINT: MariaDB compares them as signed integers in
			// some mixes of BETWEEN's operand types (a documented deviation).
			for a = g.num(depth); rfHuge.MatchString(a); a = g.num(depth) {
			}
			for b = g.num(depth); rfHuge.MatchString(b); b = g.num(depth) {
			}
			for c = g.num(depth); rfHuge.MatchString(c); c = g.num(depth) {
			}
		case 1:
			a, b, c = g.str(depth), g.str(depth), g.str(depth)
		default:
			a, b, c = g.pick("dt", "ts"), g.temporal(), g.temporal()
		}
		return a + g.pick(" BETWEEN ", " NOT BETWEEN ") + b + " AND " + c
	case 4:
		// A simple left side: IN over a computed DECIMAL (a quotient rounding to zero) is
		// a documented deviation (docs/filters.md).
		a := g.operand(0)
		items := make([]string, 1+g.r.Intn(4))
		for i := range items {
			items[i] = g.operand(0)
		}
		return a + g.pick(" IN (", " NOT IN (") + strings.Join(items, ", ") + ")"
	case 5:
		return g.operand(depth) + g.pick(" LIKE ", " NOT LIKE ") + g.likePattern()
	case 6:
		return g.operand(depth) + g.pick(" IS NULL", " IS NOT NULL")
	case 7:
		return g.num(depth)
	}
	return g.column()
}

func (g *rfGen) cond(depth int) string {
	if depth <= 0 || g.r.Intn(3) == 0 {
		return g.pred(1)
	}
	switch g.r.Intn(5) {
	case 0:
		return "NOT (" + g.cond(depth-1) + ")"
	case 1:
		return "(" + g.cond(depth-1) + ") XOR (" + g.cond(depth-1) + ")"
	case 2:
		return "(" + g.cond(depth-1) + ") OR (" + g.cond(depth-1) + ")"
	default:
		return "(" + g.cond(depth-1) + ") AND (" + g.cond(depth-1) + ")"
	}
}
