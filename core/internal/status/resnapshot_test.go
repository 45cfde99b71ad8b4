package status

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
)

func TestResnapshotEndpoint(t *testing.T) {
	tr := NewTracker("orders", func() pipeline.Stats { return pipeline.Stats{} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := tr.Run(ctx, "127.0.0.1:0", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, ResnapshotResponse) {
		t.Helper()
		resp, err := http.Post("http://"+addr+"/snapshot", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r ResnapshotResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, r
	}
	// not wired yet
	if code, r := post(`{"tables":["shop.a"]}`); code != http.StatusServiceUnavailable || r.Error == "" {
		t.Errorf("before SetResnapshot: %d %+v", code, r)
	}
	var got [][]string
	tr.SetResnapshot(func(_ context.Context, tables []string) error {
		got = append(got, tables)
		for _, tb := range tables {
			if tb == "shop.nope" {
				return fmt.Errorf("cannot re-snapshot %s: not selected", tb)
			}
			if tb == "x.unsupported" {
				return fmt.Errorf("source: %w", sdk.ErrNotSupported)
			}
		}
		return nil
	})
	for _, c := range []struct {
		body string
		code int
		err  string
	}{
		{`{"pipeline":"orders","tables":["shop.a","shop.b"]}`, http.StatusOK, ""},
		{`{"tables":["shop.a"]}`, http.StatusOK, ""},
		{`{"pipeline":"other","tables":["shop.a"]}`, http.StatusConflict, `not "other"`},
		{`{"tables":[]}`, http.StatusBadRequest, "no table"},
		{`{"tables":`, http.StatusBadRequest, "bad request"},
		{`{"tables":["shop.nope"]}`, http.StatusUnprocessableEntity, "shop.nope"},
		{`{"tables":["x.unsupported"]}`, http.StatusNotImplemented, "not supported"},
	} {
		code, r := post(c.body)
		if code != c.code || !strings.Contains(r.Error, c.err) || (c.err == "" && r.Error != "") || r.Pipeline != "orders" {
			t.Errorf("POST %s: %d %+v, want %d and an error with %q", c.body, code, r, c.code, c.err)
		}
	}
	want := [][]string{{"shop.a", "shop.b"}, {"shop.a"}, {"shop.nope"}, {"x.unsupported"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("handler calls %q, want %q", got, want)
	}
	// GET is not a request
	resp, err := http.Get("http://" + addr + "/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /snapshot: %d", resp.StatusCode)
	}
}
