package docs_test

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// charts are the series the dashboard must chart: rate, errors and
// duration per RPC, decisions by outcome, decision and verifier latency,
// verifier failures, rule errors and shed calls.
var charts = []string{
	"rpc_server_call_duration_seconds", "riskd_decisions_total", "riskd_decision_duration_seconds",
	"riskd_verifier_duration_seconds", "riskd_verifier_failures_total", "riskd_policy_rule_errors_total",
	"riskd_server_shed_total",
}

// readmeSeries are the Prometheus series the README's Telemetry section
// lists in its Metrics table, each with the names Prometheus has of it (a
// histogram's _bucket, _sum and _count).
func readmeSeries(t *testing.T) map[string][]string {
	t.Helper()
	telemetry := section(t, "## Telemetry")
	i := strings.Index(telemetry, "\n- Metrics")
	if i < 0 {
		t.Fatal(`README's Telemetry section has no "- Metrics" item`)
	}
	item := telemetry[i+1:]
	if j := strings.Index(item, "\n- "); j >= 0 {
		item = item[:j]
	}
	out := map[string][]string{}
	for _, line := range strings.Split(item, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(first, -1) {
			if strings.HasSuffix(m[1], "_seconds") {
				out[m[1]] = histogram(m[1])
			} else {
				out[m[1]] = []string{m[1]}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("README's Metrics item lists no series")
	}
	return out
}

func histogram(base string) []string {
	return []string{base + "_bucket", base + "_sum", base + "_count"}
}

// Guards (issue 19, item 6): the Grafana dashboard is valid JSON, queries
// only series the README's Metrics table lists, under their Prometheus
// names, and charts the ones an SRE reads first (charts).
func TestDashboardQueriesOnlyRiskdMetrics(t *testing.T) {
	promMetrics := readmeSeries(t)
	for _, c := range charts {
		if _, ok := promMetrics[c]; !ok {
			t.Errorf("the dashboard must chart %s, which the README's Metrics table does not list", c)
		}
	}
	known := map[string]string{} // series -> README's name
	for name, series := range promMetrics {
		for _, s := range series {
			known[s] = name
		}
	}

	b, err := os.ReadFile(filepath.Join(root, "deploy", "observability", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json is not valid JSON: %v", err)
	}
	charted := map[string]bool{}
	check := func(where, expr string) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if instrument, ok := known[n]; ok {
				charted[instrument] = true
			} else {
				t.Errorf("%s queries %s, which is not one of riskd's metrics (%s)", where, n, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
		}
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			check("panel "+p.Title, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			check("variable "+v.Name, v.Definition)
		}
	}
	for _, c := range charts {
		if !charted[c] {
			t.Errorf("no panel charts %s", c)
		}
	}
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promOperators = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
)

// metricNames returns the metric names a PromQL expression (or a Grafana
// label_values(metric, label) query) selects: what is left once strings,
// label matchers, ranges and groupings are cut out and function calls and
// operators are set aside. Simple, and enough for the dashboard's queries.
func metricNames(expr string) []string {
	if m := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`).FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	e := promStrings.ReplaceAllString(expr, "")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, id := range promIdent.FindAllString(e, -1) {
		id = strings.TrimSpace(id)
		if strings.HasSuffix(id, "(") || slices.Contains(promOperators, id) {
			continue // a function call, or an operator
		}
		out = append(out, id)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (le, rpc_method) (rate(rpc_server_call_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`: {"rpc_server_call_duration_seconds_bucket"},
		`sum by (check, outcome) (rate(riskd_decisions_total{job="a{b}"}[5m])) / ignoring(outcome) group_left sum(rate(x_total[1m]))`:      {"riskd_decisions_total", "x_total"},
		`label_values(riskd_decisions_total, job)`: {"riskd_decisions_total"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// Guards (issue 19, item 6): the collector configuration is YAML that the
// collector itself accepts: every component it names exists (in Jaeger's
// distribution, which bundles the core and contrib ones it uses) and is
// configured validly. TestTraceReachesJaeger runs it.
func TestCollectorConfigIsValid(t *testing.T) {
	path := filepath.Join(root, "deploy", "observability", "otel-collector.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("otel-collector.yaml is not YAML: %v", err)
	}
	bin, err := filepath.Abs(filepath.Join(root, ".bin", "jaeger"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run scripts/tools.sh jaeger (scripts/test.sh does so first)", bin)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", "--config", "file:"+abs).CombinedOutput(); err != nil {
		t.Errorf("the collector refuses otel-collector.yaml: %v\n%s", err, out)
	}
}
