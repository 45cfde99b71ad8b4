package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// The SDK is what third parties build against: it must not drag in ferry's host or plugins,
// nor heavy dependencies.
func TestSDKImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{
		"github.com/ferry-cdc/ferry/sdk",
		"github.com/hashicorp/", "google.golang.org/grpc", "google.golang.org/protobuf", "google.golang.org/genproto",
		"golang.org/x/net", "golang.org/x/sys", "golang.org/x/text", "github.com/oklog/run", "github.com/fatih/color",
		"github.com/mattn/", "github.com/golang/protobuf", "github.com/google/go-cmp",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			if strings.HasPrefix(dep, a) {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("sdk depends on %s; keep the SDK's imports to the standard library, go-plugin and gRPC", dep)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	type cfg struct {
		Password Secret `json:"password"`
	}
	c := cfg{Password: s}
	j, _ := json.Marshal(c)
	for _, got := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, c), string(j)} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("secret printed: %s", got)
		}
	}
	var back cfg
	if err := json.Unmarshal([]byte(`{"password":"hunter2"}`), &back); err != nil || back.Password.Reveal() != "hunter2" {
		t.Errorf("decode: %v %q", err, back.Password.Reveal())
	}
}

func TestConfigDecode(t *testing.T) {
	type cfg struct {
		Name    string   `json:"name"`
		Timeout Duration `json:"timeout"`
		Size    int64    `json:"size"`
	}
	var c cfg
	if err := NewConfig([]byte(`{"name":"x","timeout":"1m30s","size":1024}`)).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "x" || c.Timeout.D().Seconds() != 90 || c.Size != 1024 {
		t.Errorf("%+v", c)
	}
	err := NewConfig([]byte(`{"name":"x","extra":1}`)).Decode(&c)
	if err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown member: %v", err)
	}
	err = NewConfig([]byte(`{"size":"big"}`)).Decode(&c)
	if ae := AttributeErrors(err); len(ae) != 1 || ae[0].Attribute != "size" {
		t.Errorf("type error should name the attribute: %v", err)
	}
}

func TestAttributeErrors(t *testing.T) {
	err := errors.Join(AttrError("a", "bad"), fmt.Errorf("wrapped: %w", AttrError("b", "worse")), errors.New("plain"))
	got := AttributeErrors(err)
	if len(got) != 2 || got[0].Attribute != "a" || got[1].Attribute != "b" {
		t.Errorf("%v", got)
	}
}

func TestParseSize(t *testing.T) {
	cases := map[string]int64{"1024": 1024, "64KiB": 64 << 10, "20MB": 20_000_000, "1.5GiB": 3 << 29, "2M": 2 << 20, "7B": 7}
	for in, want := range cases {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "MB", "1XB", "99999999999999999999"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	good := Spec{Attributes: []Attribute{
		{Name: "address", Type: TypeString, Required: true},
		{Name: "mode", Type: TypeString, Enum: []string{"a", "b"}, Default: "a"},
		{Name: "timeout", Type: TypeDuration, Default: "5s"},
		{Name: "buffer", Type: TypeSize, Default: "1MiB"},
		{Name: "tags", Type: TypeStringList, Default: []string{}},
	}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Spec{
		{Attributes: []Attribute{{Name: "Bad", Type: TypeString}}},
		{Attributes: []Attribute{{Name: "a", Type: TypeString}, {Name: "a", Type: TypeInt}}},
		{Attributes: []Attribute{{Name: "a", Type: "complex"}}},
		{Attributes: []Attribute{{Name: "a", Type: TypeInt, Default: 5}}}, // int, not int64
		{Attributes: []Attribute{{Name: "a", Type: TypeInt, Enum: []string{"x"}}}},
		{Attributes: []Attribute{{Name: "plugin_path", Type: TypeString}}},
		{Attributes: []Attribute{{Name: "a", Type: TypeString, Required: true, Default: "x"}}},
	}
	for i, s := range bad {
		if s.Validate() == nil {
			t.Errorf("bad spec %d accepted", i)
		}
	}
}

func TestSpecHostSettings(t *testing.T) {
	good := Spec{Attributes: []Attribute{
		{Name: "only", Type: TypeStringList, Host: HostTables},
		{Name: "but_not", Type: TypeStringList, Host: HostExcludeTables},
		{Name: "readers", Type: TypeInt, Host: HostSnapshotConcurrency, Default: int64(4)},
		{Name: "memory", Type: TypeSize, Host: HostReaderMemory, Default: "64MiB"},
		{Name: "other", Type: TypeString},
	}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, h := range HostSettings {
		a, ok := good.HostAttribute(h.Setting)
		if !ok || a.Type != h.Type {
			t.Errorf("HostAttribute(%s) = %+v %v", h.Setting, a, ok)
		}
	}
	if a, ok := good.HostAttribute(""); ok {
		t.Errorf("HostAttribute(\"\") = %+v", a)
	}
	for _, tc := range []struct {
		attrs []Attribute
		want  string
	}{
		{[]Attribute{{Name: "t", Type: TypeString, Host: HostTables}}, `host setting "tables" needs type list(string), not string`},
		{[]Attribute{{Name: "m", Type: TypeInt, Host: HostReaderMemory}}, `needs type size`},
		{[]Attribute{{Name: "t", Type: TypeStringList, Host: "views"}}, `unknown host setting "views"`},
		{[]Attribute{{Name: "a", Type: TypeStringList, Host: HostTables}, {Name: "b", Type: TypeStringList, Host: HostTables}},
			`attributes "a" and "b" both declare host setting "tables"`},
		{[]Attribute{{Name: "t", Type: TypeStringList, Host: HostTables, Required: true}}, `cannot be required`},
	} {
		err := Spec{Attributes: tc.attrs}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.attrs, err, tc.want)
		}
	}
}

func TestMatchTable(t *testing.T) {
	for _, tc := range []struct {
		pattern, db, name string
		want              bool
	}{
		{"shop.orders", "shop", "orders", true}, {"Shop.ORDERS", "shop", "orders", true},
		{"shop.*", "shop", "orders", true}, {"shop.order_*", "shop", "order_items", true},
		{"shop.order_*", "shop", "orders", false}, {"*.orders", "crm", "orders", true},
		{"shop.*_bak", "shop", "x_bak_y", false}, {"*", "a", "b", true}, {"shop.orders", "shop", "orders2", false},
	} {
		if got := MatchTable(tc.pattern, tc.db, tc.name); got != tc.want {
			t.Errorf("MatchTable(%q, %s.%s) = %v", tc.pattern, tc.db, tc.name, got)
		}
	}
}

func TestRecordHeads(t *testing.T) {
	head := []byte(`{"schema":1,"payload":`)
	recs := []Record{
		{Head: head, Value: []byte(`{"a":1}}`)},
		{Value: []byte(`plain`)},
		{Head: head, Value: nil},
		{Value: nil},
	}
	if n := recs[0].BodyLen(); n != len(head)+8 {
		t.Errorf("BodyLen = %d", n)
	}
	if b := string(recs[0].Body()); b != `{"schema":1,"payload":{"a":1}}` {
		t.Errorf("Body = %q", b)
	}
	if b := recs[1].Body(); &b[0] != &recs[1].Value[0] {
		t.Error("Body of a record without a head is not its Value itself")
	}
	plain := recs[1].Value
	JoinHeads(recs)
	want := []string{`{"schema":1,"payload":{"a":1}}`, `plain`, `{"schema":1,"payload":`, ``}
	for i, r := range recs {
		if r.Head != nil {
			t.Errorf("record %d: head %q left after JoinHeads", i, r.Head)
		}
		if string(r.Value) != want[i] {
			t.Errorf("record %d: value %q, want %q", i, r.Value, want[i])
		}
		if cap(r.Value) != len(r.Value) {
			t.Errorf("record %d: value has spare capacity %d (appending to it would write into the next)", i, cap(r.Value)-len(r.Value))
		}
	}
	if &recs[1].Value[0] != &plain[0] {
		t.Error("JoinHeads copied a record that had no head")
	}
	if string(head) != `{"schema":1,"payload":` {
		t.Errorf("JoinHeads modified the shared head: %q", head)
	}
}
