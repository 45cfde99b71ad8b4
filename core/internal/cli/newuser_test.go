package cli

import (
	"strings"
	"testing"
)

// Tests for what a new user hit (issue 15): one test per defect of the CLI.

// obPipeline is a pipeline of the built-in oceanbase source and rocketmq sink; validate
// connects to neither. objects is placed inside the pipeline block.
func obPipeline(sourceExtra, objects string) string {
	return `pipeline "p" {
  source "oceanbase" {
    address = "127.0.0.1:13306"
    user    = "ferry"
` + sourceExtra + `
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = ["127.0.0.1:29876"]
    topic        = "t"
  }
` + objects + `
}
`
}

// B14: a bad table name in the objects block is reported once, at the name; the source's
// "needs at least one db.table" (its tables were filled from that block) is not repeated.
func TestValidateBadTableNameNoSpuriousTables(t *testing.T) {
	p := writeFile(t, t.TempDir(), "p.hcl", obPipeline("", `  objects {
    table "bad" {}
  }`))
	code, _, errOut := runCLI(t, "validate", p)
	if code != ExitConfig || !strings.Contains(errOut, "Invalid table name") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(strings.ToLower(errOut), "needs at least one") || !strings.Contains(errOut, "has 1 error(s)") {
		t.Errorf("spurious error about the source's tables:\n%s", errOut)
	}
}
