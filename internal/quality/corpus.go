// Package quality measures riskd's decision quality: it runs a labelled
// corpus of cases (each one a request, and the history it needs first)
// through a real server over gRPC, and reports per check how much fraud was
// caught and how many genuine customers were declined or held, and per rule
// how often it fired and how often rightly. The same per-rule table can be
// built from a store's decision log and the outcomes reported against it.
//
// The corpus lives in corpus/*.yaml, written by the generator in
// corpusgen from docs/fraud-patterns.md's patterns; `riskd quality` and the gate test
// run it.
package quality

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Corpus is the embedded default corpus.
//
//go:embed corpus/*.yaml
var Corpus embed.FS

// CorpusDir is where Corpus keeps its files.
const CorpusDir = "corpus"

// Label is what a case truly is.
type Label string

// Labels.
const (
	Genuine Label = "genuine"
	Fraud   Label = "fraud"
)

// Checks, by the names the policy file uses.
const (
	CheckSeller   = "seller"
	CheckGiftCard = "gift_card_purchase"
	CheckRefund   = "refund"
)

// Checks lists the checks in report order: policy.Checks' names.
var Checks = func() []string {
	out := make([]string, len(policy.Checks))
	for i, c := range policy.Checks {
		out[i] = c.Name
	}
	return out
}()

// CheckName is the policy name of a check enum ("" if unknown).
func CheckName(c riskv1.Check) string {
	info, _ := policy.CheckOf(c)
	return info.Name
}

// newRequest returns an empty request message of a check, nil if unknown.
func newRequest(check string) proto.Message {
	info, ok := policy.CheckNamed(check)
	if !ok {
		return nil
	}
	return info.Request.ProtoReflect().New().Interface()
}

// File is one corpus file: a family of cases.
type File struct {
	// Family names the pattern family, such as "seller-genuine".
	Family string `yaml:"family"`
	// About says in a sentence or two what the family holds.
	About string    `yaml:"about,omitempty"`
	Cases []RawCase `yaml:"cases"`
}

// RawCase is a case as written in a file. Requests are protojson in YAML
// form (field names as protojson writes them, enums by name); any string
// that starts with "now" is a relative time (see ParseRelative).
type RawCase struct {
	Name  string `yaml:"name"`
	Label Label  `yaml:"label"`
	Check string `yaml:"check"`
	// Threat is the docs/fraud-patterns.md code the case stands for (T1, G2...).
	Threat string `yaml:"threat,omitempty"`
	// Note says what makes the case what it is.
	Note    string         `yaml:"note,omitempty"`
	History []RawStep      `yaml:"history,omitempty"`
	Request map[string]any `yaml:"request"`
}

// RawStep is one piece of history a case needs before its request: either
// events for RecordEvents, or an earlier decision (optionally followed by
// an outcome reported against it).
type RawStep struct {
	// Record is a batch of risk.v1.HistoryEvent.
	Record []map[string]any `yaml:"record,omitempty"`
	// Check and Request are an earlier decision to make.
	Check   string         `yaml:"check,omitempty"`
	Request map[string]any `yaml:"request,omitempty"`
	// Report is an outcome label to report on that decision, by its short
	// name (FRAUD_CONFIRMED, CHARGEBACK, LEGITIMATE, SELLER_BANNED,
	// RETURN_ITEM_MISMATCH).
	Report string `yaml:"report,omitempty"`
}

// Case is a loaded, checked case.
type Case struct {
	File   string
	Family string
	RawCase
}

// ID is where the case comes from, for messages: "file.yaml: name".
func (c *Case) ID() string { return c.File + ": " + c.Name }

// Step is a history step with its messages built for one run.
type Step struct {
	Events  []*riskv1.HistoryEvent
	Check   string
	Request proto.Message
	Report  riskv1.OutcomeLabel
}

var jsonPosition = regexp.MustCompile(`\(line \d+:\d+\):\s*`)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,99}$`)

// Load reads every *.yaml file of dir in fsys, checks each case (names
// unique, label and check known, every request and history step builds
// into valid protojson with its relative times resolved) and returns the
// cases in file and then file order. Errors name the file and the case.
func Load(fsys fs.FS, dir string) ([]*Case, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml corpus files", dir)
	}
	slices.Sort(names)
	var all []*Case
	seen := map[string]string{}
	for _, name := range names {
		doc, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		cases, err := Parse(path.Base(name), doc)
		if err != nil {
			return nil, err
		}
		for _, c := range cases {
			if other, dup := seen[c.Name]; dup {
				return nil, fmt.Errorf("%s: case %q: name already used in %s", c.File, c.Name, other)
			}
			seen[c.Name] = c.File
		}
		all = append(all, cases...)
	}
	return all, nil
}

// Parse reads one corpus file. name is used in errors only.
func Parse(name string, doc []byte) ([]*Case, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if f.Family == "" {
		return nil, fmt.Errorf("%s: family is missing", name)
	}
	if len(f.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", name)
	}
	now := time.Now()
	out := make([]*Case, 0, len(f.Cases))
	seen := map[string]bool{}
	for i, rc := range f.Cases {
		c := &Case{File: name, Family: f.Family, RawCase: rc}
		where := fmt.Sprintf("%s: case %d", name, i+1)
		if rc.Name != "" {
			where = fmt.Sprintf("%s: case %q", name, rc.Name)
		}
		if !namePattern.MatchString(rc.Name) {
			return nil, fmt.Errorf("%s: name must be 1-100 of a-z, 0-9 and '-'", where)
		}
		if seen[rc.Name] {
			return nil, fmt.Errorf("%s: name used twice in the file", where)
		}
		seen[rc.Name] = true
		if rc.Label != Genuine && rc.Label != Fraud {
			return nil, fmt.Errorf("%s: label %q: want genuine or fraud", where, rc.Label)
		}
		if _, ok := policy.CheckNamed(rc.Check); !ok {
			return nil, fmt.Errorf("%s: check %q: want seller, gift_card_purchase or refund", where, rc.Check)
		}
		if _, _, err := c.Build(now); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Build resolves the case's relative times against now and returns its
// history steps and its request.
func (c *Case) Build(now time.Time) ([]Step, proto.Message, error) {
	steps := make([]Step, 0, len(c.History))
	for i, h := range c.History {
		var s Step
		switch {
		case len(h.Record) > 0 && (h.Check != "" || h.Request != nil || h.Report != ""):
			return nil, nil, fmt.Errorf("history[%d]: a step is either record or check+request, not both", i)
		case len(h.Record) > 0:
			for j, raw := range h.Record {
				ev := &riskv1.HistoryEvent{}
				if err := decode(raw, now, ev); err != nil {
					return nil, nil, fmt.Errorf("history[%d].record[%d]: %w", i, j, err)
				}
				if ev.GetEventId() == "" {
					return nil, nil, fmt.Errorf("history[%d].record[%d]: eventId is missing", i, j)
				}
				s.Events = append(s.Events, ev)
			}
		default:
			s.Check = h.Check
			s.Request = newRequest(h.Check)
			if s.Request == nil {
				return nil, nil, fmt.Errorf("history[%d]: check %q: want seller, gift_card_purchase or refund (or a record step)", i, h.Check)
			}
			if h.Request == nil {
				return nil, nil, fmt.Errorf("history[%d]: request is missing", i)
			}
			if err := decode(h.Request, now, s.Request); err != nil {
				return nil, nil, fmt.Errorf("history[%d].request: %w", i, err)
			}
			if h.Report != "" {
				v, ok := riskv1.OutcomeLabel_value["OUTCOME_LABEL_"+h.Report]
				if !ok || v == 0 {
					return nil, nil, fmt.Errorf("history[%d].report %q: want FRAUD_CONFIRMED, CHARGEBACK, LEGITIMATE, SELLER_BANNED or RETURN_ITEM_MISMATCH", i, h.Report)
				}
				s.Report = riskv1.OutcomeLabel(v)
			}
		}
		steps = append(steps, s)
	}
	req := newRequest(c.Check)
	if c.Request == nil {
		return nil, nil, errors.New("request is missing")
	}
	if err := decode(c.Request, now, req); err != nil {
		return nil, nil, fmt.Errorf("request: %w", err)
	}
	return steps, req, nil
}

// decode resolves relative times in a YAML tree and reads it as protojson.
func decode(tree map[string]any, now time.Time, m proto.Message) error {
	resolved, err := resolve(tree, now, "")
	if err != nil {
		return err
	}
	doc, err := json.Marshal(resolved)
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(doc, m); err != nil {
		// protojson's errors carry a "proto:" prefix, odd spaces and a
		// position in the JSON this package made, which means nothing to
		// whoever wrote the YAML.
		msg := strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "proto:")), " ")
		return errors.New(jsonPosition.ReplaceAllString(msg, ""))
	}
	return nil
}

// resolve copies a YAML tree with every relative time replaced by an
// RFC 3339 time; at is the field path, for errors.
func resolve(v any, now time.Time, at string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			r, err := resolve(x, now, join(at, k))
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			r, err := resolve(x, now, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case string:
		if !IsRelative(t) {
			return t, nil
		}
		d, err := ParseRelative(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		return now.Add(d).UTC().Format(time.RFC3339Nano), nil
	}
	return v, nil
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}
