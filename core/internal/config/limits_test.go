package config

import "testing"

func TestLimitsDecode(t *testing.T) {
	src := `pipeline "p" {
  source "s" {}
  serializer "z" {}
  sink "k" {}
  limits {
    full {
      rows_per_second  = 20000
      bytes_per_second = "20MiB"
    }
    incremental {
      rows_per_second = 500
    }
  }
}
`
	f, diags := Parse("l.hcl", []byte(src), Options{Env: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	l := f.Pipeline.Limits
	if l.Full.RowsPerSecond != 20000 || l.Full.BytesPerSecond != 20<<20 || l.Incremental.RowsPerSecond != 500 || l.Incremental.BytesPerSecond != 0 {
		t.Errorf("%+v", l)
	}
	f, diags = Parse("n.hcl", []byte(`pipeline "p" {
  source "s" {}
  serializer "z" {}
  sink "k" {}
}
`), Options{})
	if diags.HasErrors() || f.Pipeline.Limits.Full.RowsPerSecond != 0 || f.Pipeline.Limits.Incremental.BytesPerSecond != 0 {
		t.Errorf("no limits block: %v %+v", diags, f.Pipeline.Limits)
	}
}
