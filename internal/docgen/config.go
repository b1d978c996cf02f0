package docgen

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
)

// structDocs reads the doc comments of a struct type's fields from its
// source file, by field name.
func structDocs(file, typeName string) (map[string]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typeName {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		found = true
		for _, fld := range st.Fields.List {
			for _, name := range fld.Names {
				docs[name.Name] = strings.Join(strings.Fields(fld.Doc.Text()), " ")
			}
		}
		return false
	})
	if !found {
		return nil, fmt.Errorf("%s: no struct %s", file, typeName)
	}
	return docs, nil
}

// xdg stands in for the environment when the defaults are rendered, so
// that the data directory's default shows as the rule it follows rather
// than the home directory of whoever regenerated the page.
func xdg(name string) string {
	if name == "XDG_STATE_HOME" {
		return "$XDG_STATE_HOME"
	}
	return ""
}

// ConfigReference renders docs/configuration.md from internal/config: every
// flag riskd's configuration binds, with its environment variable, its
// YAML key, its default and what it means (the flag's usage and the
// comment on its field of config.Config), and the YAML-only keys.
func ConfigReference(root string) ([]byte, error) {
	var fs *flag.FlagSet
	if _, err := config.LoadCommand("riskd", "", nil, xdg, io.Discard, func(f *flag.FlagSet) { fs = f }); err != nil {
		return nil, err
	}
	docs, err := structDocs(filepath.Join(root, "internal", "config", "config.go"), "Config")
	if err != nil {
		return nil, err
	}
	callerDocs, err := structDocs(filepath.Join(root, "internal", "auth", "auth.go"), "Caller")
	if err != nil {
		return nil, err
	}
	// The YAML key of a flag is its name with underscores (the package's
	// rule); the field is found by its yaml tag.
	byKey := map[string]reflect.StructField{}
	t := reflect.TypeFor[config.Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if k := strings.Split(f.Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			byKey[k] = f
		}
	}
	var b bytes.Buffer
	b.WriteString(generatedNote("internal/config and internal/auth (internal/docgen/config.go)"))
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("riskd reads one configuration, in this order, each source overriding the one before:\n" +
		"the defaults below, then a YAML file (`--config FILE` or `RISKD_CONFIG`), then the\n" +
		"environment (`RISKD_` and the flag's name in upper case with underscores), then the\n" +
		"command line. An unknown YAML key is an error, not a silent default. Every value is\n" +
		"checked before riskd starts, and a bad one stops it with the flag's name and why\n" +
		"(`config: listen: ...`). `riskd -h` lists the same flags.\n\n" +
		"Durations are Go durations (`500ms`, `2s`, `15m`, `400h`), in YAML too (`policy_poll: 5s`).\n\n")
	b.WriteString("## Flags, environment variables and YAML keys\n\n")
	b.WriteString("| Flag | Environment | YAML key | Default | Meaning | Notes |\n|---|---|---|---|---|---|\n")
	seen := map[string]bool{}
	var rowErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := strings.ReplaceAll(f.Name, "-", "_")
		yamlKey, notes := "`"+key+"`", ""
		if f.Name == "config" {
			yamlKey = "(none)"
		} else if field, ok := byKey[key]; ok {
			seen[key] = true
			notes = docs[field.Name]
		} else if rowErr == nil {
			rowErr = fmt.Errorf("flag --%s has no field of config.Config with yaml tag %q", f.Name, key)
		}
		def := f.DefValue
		switch {
		case f.Name == "max-concurrent-streams":
			def = fmt.Sprint(config.Default().MaxConcurrentStreams) // a flag.Func has no default of its own
		case def == "":
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | `%s` | %s | %s |\n", f.Name, config.EnvName(f.Name), yamlKey, def, cell(f.Usage), cell(notes))
	})
	if rowErr != nil {
		return nil, rowErr
	}
	b.WriteString("\n`--data-dir`: without `XDG_STATE_HOME`, the default is `~/.local/state/riskd`, and `data`\n" +
		"in the working directory when there is no home directory either.\n\n")
	b.WriteString("## Keys only the YAML file sets\n\n")
	b.WriteString("| YAML key | Meaning |\n|---|---|\n")
	for _, k := range sortedKeys(byKey) {
		if !seen[k] {
			fmt.Fprintf(&b, "| `%s` | %s |\n", k, cell(docs[byKey[k].Name]))
		}
	}
	b.WriteString("\nEach entry of `callers`:\n\n| YAML key | Meaning |\n|---|---|\n")
	ct := reflect.TypeFor[auth.Caller]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		if k := strings.Split(f.Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			fmt.Fprintf(&b, "| `%s` | %s |\n", k, cell(callerDocs[f.Name]))
		}
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}

func sortedKeys(m map[string]reflect.StructField) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
