// Command wherecheck evaluates row filters for tests outside core (the integration property
// test, which cannot import an internal package). It reads one JSON request on stdin:
//
//	{"table": <change.Table>, "rows": [[[kind, n, "s"], ...], ...], "conds": ["...", ...]}
//
// with values as change.Value.Raw triples, and writes one JSON response:
//
//	{"results": [{"keep": [row indexes], "error": "first evaluation error", "compile_error": ""}]}
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/ferry-cdc/ferry/core/internal/objects/where"
	"github.com/ferry-cdc/ferry/sdk/change"
)

type request struct {
	Table change.Table        `json:"table"`
	Rows  [][]json.RawMessage `json:"rows"`
	Conds []string            `json:"conds"`
}

type result struct {
	Keep         []int  `json:"keep"`
	Error        string `json:"error,omitempty"`
	CompileError string `json:"compile_error,omitempty"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "wherecheck:", err)
		os.Exit(2)
	}
	rows := make([][]change.Value, len(req.Rows))
	for i, r := range req.Rows {
		rows[i] = make([]change.Value, len(r))
		for j, raw := range r {
			var triple [3]any
			if err := json.Unmarshal(raw, &triple); err != nil {
				fmt.Fprintln(os.Stderr, "wherecheck:", err)
				os.Exit(2)
			}
			k, _ := triple[0].(float64)
			nstr, _ := triple[1].(string)
			s, _ := triple[2].(string)
			var n uint64
			fmt.Sscan(nstr, &n)
			rows[i][j] = change.FromRaw(change.Kind(k), n, s)
		}
	}
	out := struct {
		Results []result `json:"results"`
	}{Results: make([]result, len(req.Conds))}
	for ci, cond := range req.Conds {
		res := &out.Results[ci]
		f, err := where.Compile(cond, &req.Table)
		if err != nil {
			res.CompileError = err.Error()
			continue
		}
		res.Keep = []int{}
		for i, r := range rows {
			ok, err := f.Match(r)
			if err != nil {
				if res.Error == "" {
					res.Error = err.Error()
				}
				continue
			}
			if ok {
				res.Keep = append(res.Keep, i)
			}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "wherecheck:", err)
		os.Exit(2)
	}
}
