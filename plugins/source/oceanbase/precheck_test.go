package oceanbase

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

func TestNameProblem(t *testing.T) {
	for _, ok := range []string{"t", "order_items", "A$1", "x-y"} {
		if p := NameProblem(ok); p != "" {
			t.Errorf("%q: %s", ok, p)
		}
	}
	for _, bad := range []string{"a b", "a\nb", "é", "a.b", "a|b", `a"b`, "a'b", "a`b", "f(x)", "a=b", "a;b", "a/b", "a&b", `a\b`, ""} {
		if NameProblem(bad) == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMissingPrivileges(t *testing.T) {
	grants := []string{
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `ferry`@`%` IDENTIFIED BY PASSWORD '*82'",
		"GRANT ALL PRIVILEGES ON `ferry\\_%`.* TO `ferry`@`%`",
		"GRANT SELECT (a, b), INSERT ON `other`.`t` TO `ferry`@`%`",
	}
	need := []string{"SELECT ON x.t", "REPLICATION SLAVE ON *.*", "REPLICATION CLIENT ON *.*", "CREATE ON ferry_a.*",
		"CREATE ON ferryXa.*", "INSERT ON other.t", "UPDATE ON other.t"}
	got := MissingPrivileges(grants, need)
	if strings.Join(got, "|") != "CREATE ON ferryXa.*|UPDATE ON other.t" {
		t.Fatalf("missing %q", got)
	}
	// MySQL 8 style
	got = MissingPrivileges([]string{"GRANT SELECT ON `d`.* TO `u`@`%`"}, []string{"SELECT ON d.t", "REPLICATION SLAVE ON *.*", "REPLICATION CLIENT ON *.*"})
	if strings.Join(got, "|") != "REPLICATION SLAVE ON *.*|REPLICATION CLIENT ON *.*" {
		t.Fatalf("missing %q", got)
	}
}

func TestRetentionVerdict(t *testing.T) {
	now := time.Now()
	cases := []struct {
		mode   string
		expire time.Duration
		known  bool
		oldest time.Time
		want   Status
	}{
		{ModeIncremental, 0, true, time.Time{}, StatusPass},
		{ModeIncremental, 72 * time.Hour, true, now, StatusPass},
		{ModeIncremental, 24 * time.Hour, true, now, StatusFail},
		{ModeBoth, 72 * time.Hour, true, now, StatusWarn},
		{ModeBoth, 24 * time.Hour, true, now, StatusFail},
		{ModeBoth, 8 * 24 * time.Hour, true, now, StatusPass},
		{ModeIncremental, 0, false, now.Add(-72 * time.Hour), StatusPass},
		{ModeIncremental, 0, false, now.Add(-time.Hour), StatusWarn},
		{ModeFull, time.Hour, true, now, StatusPass},
	}
	for i, c := range cases {
		if v := RetentionVerdict(c.mode, c.expire, c.known, c.oldest, now); v.Status != c.want {
			t.Errorf("case %d: %s", i, v)
		}
	}
}

func TestStandbyAndTableVerdicts(t *testing.T) {
	if v := StandbyVerdict(StandbyInfo{TenantRole: "STANDBY"}); v.Status != StatusFail {
		t.Errorf("standby tenant: %s", v)
	}
	if v := StandbyVerdict(StandbyInfo{TenantRole: "PRIMARY", ReadOnly: true}); v.Status != StatusPass {
		t.Errorf("primary tenant: %s", v)
	}
	if v := StandbyVerdict(StandbyInfo{ReplicaOf: "10.0.0.1"}); v.Status != StatusWarn {
		t.Errorf("replica: %s", v)
	}
	if v := BinlogFormatVerdict("MIXED", nil); v.Status != StatusFail {
		t.Errorf("MIXED: %s", v)
	}
	if v := BinlogRowImageVerdict("NOBLOB", nil); v.Status != StatusFail {
		t.Errorf("NOBLOB: %s", v)
	}
	tb := &change.Table{Database: "d", Name: "t", Columns: []change.Column{
		{Name: "a", Type: "INT"}, {Name: "g", Type: "INT", Generated: change.GeneratedVirtual}, {Name: "j", Type: "JSON"}}}
	if v := VirtualColumnsVerdict([]*change.Table{tb}); v.Status != StatusWarn || !strings.Contains(v.Detail, "d.t.g") {
		t.Errorf("virtual: %s", v)
	}
	if v := LOBVerdict([]*change.Table{tb}); v.Status != StatusWarn || !strings.Contains(v.Detail, "d.t.j JSON") {
		t.Errorf("lob: %s", v)
	}
	if v := KeysVerdict([]*change.Table{tb}); v.Status != StatusWarn || !strings.Contains(v.Detail, "d.t (no NOT NULL unique key") {
		t.Errorf("keys: %s", v)
	}
}

// B10: ListTables gives a table with a name the precheck refuses a Problem, so `ferry
// objects` lists it as dropped, not selected.
func TestTableNamesProblem(t *testing.T) {
	ok := &change.Table{Database: "shop", Name: "orders", Columns: []change.Column{{Name: "id"}}}
	if p := tableNamesProblem(ok); p != "" {
		t.Errorf("ok table: %q", p)
	}
	for _, tb := range []*change.Table{
		{Database: "shop", Name: "order items", Columns: []change.Column{{Name: "id"}}},
		{Database: "shop", Name: "pri€s", Columns: []change.Column{{Name: "id"}}},
		{Database: "shop", Name: "a|b", Columns: []change.Column{{Name: "id"}}},
		{Database: "shop", Name: "orders", Columns: []change.Column{{Name: "net amount"}}},
	} {
		if p := tableNamesProblem(tb); !strings.Contains(p, "unsupported name") {
			t.Errorf("%s: %q", tb.QualifiedName(), p)
		}
	}
}
