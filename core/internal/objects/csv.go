package objects

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CSVHeader are the columns of the objects CSV file.
var CSVHeader = []string{"database", "table", "topic", "row_filter", "columns", "sharding_columns"}

// WriteCSV writes objects as an objects CSV file (CSVHeader, then one row each).
func WriteCSV(w io.Writer, objs []Object) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, o := range objs {
		_ = cw.Write([]string{o.Database, o.Table, o.Topic, o.Where, strings.Join(o.Columns, ","), strings.Join(o.ShardingColumns, ",")})
	}
	cw.Flush()
	return cw.Error()
}

// CSVError is a bad row of an objects CSV file.
type CSVError struct {
	Line int
	Msg  string
}

// ReadCSV reads and checks an objects CSV file: every bad row is reported; the selection is
// returned only when there is none. Rows whose database or table contain '*' are rules, in
// file order; the others are tables.
func ReadCSV(r io.Reader) (*Selection, []CSVError) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var errs []CSVError
	sel := &Selection{}
	seen := map[string]int{}
	header := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e, next := readError(err)
			errs = append(errs, e)
			if next {
				continue
			}
			break
		}
		line, _ := cr.FieldPos(0)
		if header {
			header = false
			if !equalFoldAll(rec, CSVHeader) {
				errs = append(errs, CSVError{line, "the first line must be the header " + strings.Join(CSVHeader, ",")})
				break
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(CSVHeader) {
			errs = append(errs, CSVError{line, fmt.Sprintf("%d fields, want %d (%s)", len(rec), len(CSVHeader), strings.Join(CSVHeader, ","))})
			continue
		}
		o, isRule, msgs := csvObject(rec)
		name := o.Name()
		key := strings.ToLower(name)
		if prev, dup := seen[key]; dup {
			msgs = append(msgs, fmt.Sprintf("%s is already on line %d", name, prev))
		} else {
			seen[key] = line
		}
		if len(msgs) > 0 {
			errs = append(errs, CSVError{line, strings.Join(msgs, "; ")})
			continue
		}
		if isRule {
			sel.Rules = append(sel.Rules, o)
		} else {
			sel.Tables = append(sel.Tables, o)
		}
	}
	if len(errs) == 0 && sel.Empty() {
		errs = append(errs, CSVError{1, "the file selects no object"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return sel, nil
}

// readError is the CSVError of a failed csv Read; next says reading may go on (a row with
// the wrong number of fields).
func readError(err error) (e CSVError, next bool) {
	// FieldPos is only valid after a successful Read.
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return CSVError{1, err.Error()}, false
	}
	line := pe.StartLine
	if line == 0 {
		line = pe.Line
	}
	return CSVError{line, pe.Err.Error()}, pe.Err == csv.ErrFieldCount
}

// csvObject is the object of one row with all of CSVHeader's fields, whether it is a rule,
// and what is wrong with its fields.
func csvObject(rec []string) (o Object, isRule bool, msgs []string) {
	o = Object{Database: strings.TrimSpace(rec[0]), Table: strings.TrimSpace(rec[1]), Topic: strings.TrimSpace(rec[2]), Where: strings.TrimSpace(rec[3])}
	name := o.Name()
	isRule = strings.Contains(name, "*")
	if _, _, err := SplitName(name, isRule); err != nil {
		msgs = append(msgs, "bad name: "+err.Error())
	}
	if err := CheckTopic(o.Topic); err != nil {
		msgs = append(msgs, "topic: "+err.Error())
	}
	if o.Where != "" {
		if err := CheckWhereSyntax(o.Where); err != nil {
			msgs = append(msgs, "row_filter: "+err.Error())
		}
	}
	for i, f := range []struct {
		name string
		dst  *[]string
	}{{"columns", &o.Columns}, {"sharding_columns", &o.ShardingColumns}} {
		if s := strings.TrimSpace(rec[4+i]); s != "" {
			for _, c := range strings.Split(s, ",") {
				*f.dst = append(*f.dst, strings.TrimSpace(c))
			}
			if err := CheckColumnNames(*f.dst); err != nil {
				msgs = append(msgs, f.name+": "+err.Error())
			}
		}
	}
	return o, isRule, msgs
}

func equalFoldAll(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(a[i], "\ufeff")), b[i]) {
			return false
		}
	}
	return true
}
