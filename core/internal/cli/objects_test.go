package cli

import (
	"strings"
	"testing"
)

// B1: a CSV quoting error is reported by line, not a panic in FieldPos.
func TestObjectsCSVQuotingError(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "p.hcl", "pipeline \"p\" {\n  source \"s\" {}\n  serializer \"x\" {}\n  sink \"k\" {}\n}\n")
	q := writeFile(t, dir, "q.csv", "database,table,topic,row_filter,columns,sharding_columns\nfe\"rry,a,,,,\n")
	code, _, errOut := runCLI(t, "objects", p, "--import", q)
	if code != ExitConfig || !strings.Contains(errOut, q+":2: ") {
		t.Fatalf("exit %d, stderr %q; want exit %d and %s:2: ...", code, errOut, ExitConfig, q)
	}
}
