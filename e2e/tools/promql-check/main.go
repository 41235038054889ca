// Command promql-check reads rendered Kubernetes YAML on stdin, parses the expression of every
// rule of every PrometheusRule with Prometheus's own PromQL parser, and prints, one JSON object
// per rule, the series each expression selects: metric names, the labels it matches on and the
// labels it aggregates by. It exits non-zero on the first expression that does not parse.
// The chart's end-to-end test checks those names against what the gateway and the operator
// really export.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

type rule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
}

type prometheusRule struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

// selector is one vector selector of an expression.
type selector struct {
	Metric string   `json:"metric"`
	Labels []string `json:"labels"`
}

type report struct {
	Alert     string     `json:"alert"`
	Selectors []selector `json:"selectors"`
	By        []string   `json:"by"`
}

func main() {
	decoder := yaml.NewDecoder(os.Stdin)
	rules := 0
	for {
		var object prometheusRule
		err := decoder.Decode(&object)
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("reading YAML: %v", err)
		}
		if object.Kind != "PrometheusRule" {
			continue
		}
		for _, group := range object.Spec.Groups {
			for _, r := range group.Rules {
				rules++
				fmt.Println(check(r))
			}
		}
	}
	if rules == 0 {
		fail("no PrometheusRule rules in the input")
	}
}

func check(r rule) string {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(strings.TrimSpace(r.Expr))
	if err != nil {
		fail("rule %s: %v", r.Alert, err)
	}
	out := report{Alert: r.Alert, Selectors: []selector{}, By: []string{}}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			s := selector{Metric: n.Name, Labels: []string{}}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" {
					s.Labels = append(s.Labels, m.Name)
				}
			}
			out.Selectors = append(out.Selectors, s)
		case *parser.AggregateExpr:
			if !n.Without {
				out.By = append(out.By, n.Grouping...)
			}
		}
		return nil
	})
	line, _ := json.Marshal(out)
	return string(line)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "promql-check: "+format+"\n", args...)
	os.Exit(1)
}
