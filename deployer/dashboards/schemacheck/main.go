// grafana-dashboard-check: checks Grafana dashboard JSON files against Grafana's own dashboard schema,
// as its Foundation SDK (github.com/grafana/grafana-foundation-sdk/go, generated from Grafana's
// schemas) decodes them strictly: unknown fields, wrong types and missing required fields are errors,
// and panel options and Prometheus queries are checked by their plugins' schemas. Then the schema's
// own constraints (Validate). Prints one JSON object per file: {"file": ..., "errors": [...]}; exits
// 1 when any file has an error, 2 on bad usage.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// found: the SDK returns an empty cog.BuildErrors (a typed nil) from some of its checks when all is
// well; that is no error.
func found(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

type result struct {
	File   string   `json:"file"`
	Errors []string `json:"errors"`
}

func check(path string) result {
	r := result{File: path, Errors: []string{}}
	raw, err := os.ReadFile(path)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	var d dashboard.Dashboard
	if err := found(d.UnmarshalJSONStrict(raw)); err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	if err := found(d.Validate()); err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	return r
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grafana-dashboard-check FILE.json ...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()
	failed := false
	out := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		r := check(path)
		if len(r.Errors) > 0 {
			failed = true
		}
		_ = out.Encode(r)
	}
	if failed {
		os.Exit(1)
	}
}
