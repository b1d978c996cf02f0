// Package docgen renders the pages of docs/ that are made from the code, so
// that they cannot drift from it: the API reference from the comments of the
// .proto files (api.go), the reason codes from the verifiers and the default
// policy (reasons.go), and the configuration reference from internal/config
// (config.go). scripts/generate.sh runs it through cmd/docgen; the package's
// tests fail when a committed page differs from what it renders now, and
// when an element of the API has no comment.
package docgen

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"

	// riskd's predefined rules (risk/v1/rules.proto) must be known when
	// the descriptors are read, or their options stay unknown bytes and
	// the reference would not show them.
	_ "github.com/riskd/riskd/proto/risk/v1"
)

// OurPrefix is where riskd's own .proto files are, as paths relative to
// the buf module (proto/): every file under it is documented and checked.
const OurPrefix = "risk/"

// LoadDescriptors reads a FileDescriptorSet with source info (the output
// of `buf build --as-file-descriptor-set`, which keeps comments; the
// descriptors compiled into the Go code have none) and returns riskd's own
// files, sorted by path.
func LoadDescriptors(set []byte) ([]protoreflect.FileDescriptor, error) {
	var fds descriptorpb.FileDescriptorSet
	// The global registry knows protovalidate's and riskd's extensions,
	// so rules in options are read as messages, not kept as unknown bytes.
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(set, &fds); err != nil {
		return nil, fmt.Errorf("descriptor set: %w", err)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		return nil, fmt.Errorf("descriptor set: %w", err)
	}
	var ours []protoreflect.FileDescriptor
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(f.Path(), OurPrefix) {
			ours = append(ours, f)
		}
		return true
	})
	if len(ours) == 0 {
		return nil, fmt.Errorf("descriptor set has no file under %s", OurPrefix)
	}
	slices.SortFunc(ours, func(a, b protoreflect.FileDescriptor) int { return strings.Compare(a.Path(), b.Path()) })
	return ours, nil
}

// comment is d's leading comment, each line trimmed of the one space after
// the slashes; "" when it has none.
func comment(d protoreflect.Descriptor) string {
	return escape.Replace(unindent(d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments))
}

// Uncommented names every service, method, message, field, enum, enum
// value and extension of files that has no leading comment. Map entries
// are left out: protoc makes them, nobody can comment them.
func Uncommented(files []protoreflect.FileDescriptor) []string {
	var missing []string
	check := func(kind string, d protoreflect.Descriptor) {
		if comment(d) == "" {
			missing = append(missing, fmt.Sprintf("%s: %s %s", d.ParentFile().Path(), kind, d.FullName()))
		}
	}
	var enums func(protoreflect.EnumDescriptors)
	enums = func(es protoreflect.EnumDescriptors) {
		for i := range es.Len() {
			e := es.Get(i)
			check("enum", e)
			for j := range e.Values().Len() {
				check("enum value", e.Values().Get(j))
			}
		}
	}
	exts := func(xs protoreflect.ExtensionDescriptors) {
		for i := range xs.Len() {
			check("extension", xs.Get(i))
		}
	}
	var messages func(protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			check("message", m)
			for j := range m.Fields().Len() {
				check("field", m.Fields().Get(j))
			}
			enums(m.Enums())
			exts(m.Extensions())
			messages(m.Messages())
		}
	}
	for _, f := range files {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			check("service", s)
			for j := range s.Methods().Len() {
				check("rpc", s.Methods().Get(j))
			}
		}
		messages(f.Messages())
		enums(f.Enums())
		exts(f.Extensions())
	}
	return missing
}

// anchor is the heading a type's section has, and its link target by
// GitHub's slug rules (lower case, dots dropped).
func anchor(name protoreflect.FullName) string {
	return "#" + Slug(string(name))
}

// APIReference renders files as one Markdown page: each file's services
// with their RPCs, then its messages with a table of fields, the
// validation rules the server enforces on each, and its enums.
func APIReference(files []protoreflect.FileDescriptor) []byte {
	var b bytes.Buffer
	ours := map[protoreflect.FullName]bool{}
	for _, f := range files {
		walkTypes(f, func(d protoreflect.Descriptor) { ours[d.FullName()] = true })
	}
	b.WriteString(generatedNote("the comments of the .proto files under proto/risk (internal/docgen/api.go)"))
	b.WriteString("# API reference\n\n")
	b.WriteString("Every service, RPC, message, field and enum of riskd's API, from the comments of\n" +
		"the `.proto` files under [`proto/risk`](../proto/risk). The **Rules** column shows the\n" +
		"[protovalidate](https://github.com/bufbuild/protovalidate) rules the server enforces on a\n" +
		"field: a request that breaks one is refused with `INVALID_ARGUMENT`, naming the field and\n" +
		"the rule (see [Errors](reason-codes.md#errors)). The reason codes a decision carries are in\n" +
		"[reason codes](reason-codes.md); what may change in this API is in\n" +
		"[API stability](api-stability.md).\n\n")
	for _, f := range files {
		fmt.Fprintf(&b, "- [%s](%s)\n", f.Path(), "#"+Slug(f.Path()))
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			fmt.Fprintf(&b, "  - [%s](%s)\n", s.FullName(), anchor(s.FullName()))
		}
	}
	b.WriteString("\n")
	for _, f := range files {
		fmt.Fprintf(&b, "## %s\n\n", f.Path())
		if c := fileComment(f); c != "" {
			b.WriteString(c + "\n\n")
		}
		fmt.Fprintf(&b, "Package `%s`.\n\n", f.Package())
		for i := range f.Services().Len() {
			service(&b, f.Services().Get(i), ours)
		}
		walkTypes(f, func(d protoreflect.Descriptor) {
			switch d := d.(type) {
			case protoreflect.MessageDescriptor:
				message(&b, d, ours)
			case protoreflect.EnumDescriptor:
				enum(&b, d)
			}
		})
		if f.Extensions().Len() > 0 {
			fmt.Fprintf(&b, "### Extensions of %s\n\n", f.Path())
			b.WriteString("| Extension | Extends | Type | Description |\n|---|---|---|---|\n")
			for i := range f.Extensions().Len() {
				x := f.Extensions().Get(i)
				fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", x.FullName(), x.ContainingMessage().FullName(), typeName(x, ours), cell(comment(x)))
			}
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// fileComment is the comment above a file's syntax or edition line.
func fileComment(f protoreflect.FileDescriptor) string {
	// Path [12] is the syntax statement (FileDescriptorProto.syntax), [14]
	// the edition.
	for _, p := range []protoreflect.SourcePath{{12}, {14}} {
		if c := f.SourceLocations().ByPath(p).LeadingComments; c != "" {
			return escape.Replace(unindent(c))
		}
	}
	return ""
}

// escape keeps a comment's text as text in Markdown: "<verifier>" would
// otherwise be taken for an HTML tag and vanish from the page.
var escape = strings.NewReplacer("<", "&lt;", ">", "&gt;")

func unindent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimRight(l, " "), " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// walkTypes calls fn for every message (not map entries) and enum of f,
// in declaration order, a nested type after its parent.
func walkTypes(f protoreflect.FileDescriptor, fn func(protoreflect.Descriptor)) {
	var messages func(protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			fn(m)
			for j := range m.Enums().Len() {
				fn(m.Enums().Get(j))
			}
			messages(m.Messages())
		}
	}
	for i := range f.Enums().Len() {
		fn(f.Enums().Get(i))
	}
	messages(f.Messages())
}

func service(b *bytes.Buffer, s protoreflect.ServiceDescriptor, ours map[protoreflect.FullName]bool) {
	fmt.Fprintf(b, "### %s\n\n%s\n\n", s.FullName(), comment(s))
	b.WriteString("| RPC | Request | Response | Description |\n|---|---|---|---|\n")
	for i := range s.Methods().Len() {
		m := s.Methods().Get(i)
		in, out := link(m.Input().FullName(), ours), link(m.Output().FullName(), ours)
		if m.IsStreamingClient() {
			in = "stream " + in
		}
		if m.IsStreamingServer() {
			out = "stream " + out
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", m.Name(), in, out, cell(comment(m)))
	}
	b.WriteString("\n")
}

func message(b *bytes.Buffer, m protoreflect.MessageDescriptor, ours map[protoreflect.FullName]bool) {
	fmt.Fprintf(b, "### %s\n\n%s\n\n", m.FullName(), comment(m))
	if r := messageRules(m); r != "" {
		fmt.Fprintf(b, "Rules on the whole message: %s\n\n", r)
	}
	if m.Fields().Len() == 0 {
		b.WriteString("No fields.\n\n")
		return
	}
	b.WriteString("| Field | Number | Type | Rules | Description |\n|---|---|---|---|---|\n")
	for i := range m.Fields().Len() {
		f := m.Fields().Get(i)
		desc := comment(f)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			desc = fmt.Sprintf("One of `%s`. %s", o.Name(), desc)
		}
		fmt.Fprintf(b, "| `%s` | %d | %s | %s | %s |\n", f.Name(), f.Number(), typeName(f, ours), cell(fieldRules(f)), cell(desc))
	}
	b.WriteString("\n")
}

func enum(b *bytes.Buffer, e protoreflect.EnumDescriptor) {
	fmt.Fprintf(b, "### %s\n\n%s\n\n", e.FullName(), comment(e))
	b.WriteString("| Value | Number | Description |\n|---|---|---|\n")
	for i := range e.Values().Len() {
		v := e.Values().Get(i)
		fmt.Fprintf(b, "| `%s` | %d | %s |\n", v.Name(), v.Number(), cell(comment(v)))
	}
	b.WriteString("\n")
}

// link is a type's name, linked to its section when it is riskd's.
func link(name protoreflect.FullName, ours map[protoreflect.FullName]bool) string {
	if ours[name] {
		return fmt.Sprintf("[`%s`](%s)", name, anchor(name))
	}
	return "`" + string(name) + "`"
}

func typeName(f protoreflect.FieldDescriptor, ours map[protoreflect.FullName]bool) string {
	if f.IsMap() {
		return fmt.Sprintf("map&lt;%s, %s&gt;", typeName(f.MapKey(), ours), typeName(f.MapValue(), ours))
	}
	var t string
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		t = link(f.Message().FullName(), ours)
	case protoreflect.EnumKind:
		t = link(f.Enum().FullName(), ours)
	default:
		t = "`" + f.Kind().String() + "`"
	}
	switch {
	case f.IsList():
		t = "repeated " + t
	case f.HasOptionalKeyword():
		t = "optional " + t
	}
	return t
}

// cell makes text fit one Markdown table cell: paragraphs kept apart by
// <br>, lines of one paragraph joined, pipes escaped.
func cell(s string) string {
	paras := strings.Split(s, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.ReplaceAll(strings.Join(paras, "<br><br>"), "|", `\|`)
}

// fieldRules renders the protovalidate rules on f, "" for none.
func fieldRules(f protoreflect.FieldDescriptor) string {
	opts, ok := f.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, validate.E_Field) {
		return ""
	}
	rules := proto.GetExtension(opts, validate.E_Field).(*validate.FieldRules)
	return strings.Join(ruleList(rules.ProtoReflect(), "", true), ", ")
}

func messageRules(m protoreflect.MessageDescriptor) string {
	opts, ok := m.Options().(*descriptorpb.MessageOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, validate.E_Message) {
		return ""
	}
	rules := proto.GetExtension(opts, validate.E_Message).(*validate.MessageRules)
	return strings.Join(ruleList(rules.ProtoReflect(), "", true), ", ")
}

// ruleList renders each rule set in m as `name: value`. At the top the
// name of the type's rule message (string, int64...) is left out: the
// field's type says it. A CEL rule is named by its id and message.
func ruleList(m protoreflect.Message, prefix string, top bool) []string {
	var out []string
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	// Declaration order, extensions (riskd's predefined rules) last: the
	// order Range gives is not stable.
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int {
		if a.IsExtension() != b.IsExtension() {
			if a.IsExtension() {
				return 1
			}
			return -1
		}
		return int(a.Number()) - int(b.Number())
	})
	for _, fd := range fields {
		v := m.Get(fd)
		// A predefined rule (an extension, from risk/v1/rules.proto) by
		// its short name, as riskd's own rules are written.
		name := prefix + string(fd.Name())
		switch {
		case fd.Message() != nil && fd.Message().FullName() == "buf.validate.Rule":
			out = append(out, celRule(v.List()))
		case fd.IsList():
			out = append(out, name+": "+listValue(fd, v.List()))
		case fd.Message() != nil && isValueMessage(fd.Message()):
			out = append(out, name+": "+scalar(fd, v))
		case fd.Message() != nil:
			p := name + "."
			if top && fd.ContainingOneof() != nil && fd.ContainingOneof().Name() == "type" {
				p = ""
			}
			out = append(out, ruleList(v.Message(), p, false)...)
		default:
			out = append(out, name+": "+scalar(fd, v))
		}
	}
	return out
}

func celRule(l protoreflect.List) string {
	var ids []string
	for i := range l.Len() {
		r := l.Get(i).Message().Interface().(*validate.Rule)
		s := "`" + r.GetId() + "`"
		if r.GetMessage() != "" {
			s += " (" + r.GetMessage() + ")"
		}
		ids = append(ids, s)
	}
	return "CEL " + strings.Join(ids, "; ")
}

// isValueMessage says a rule's value is a message shown as one value.
func isValueMessage(m protoreflect.MessageDescriptor) bool {
	return m.FullName() == "google.protobuf.Duration" || m.FullName() == "google.protobuf.Timestamp"
}

// listValue shows a list of values; a long one (the currencies) only by
// its length, since the comment of the field names its source.
func listValue(fd protoreflect.FieldDescriptor, l protoreflect.List) string {
	if l.Len() > 12 {
		return fmt.Sprintf("one of %d values", l.Len())
	}
	var vs []string
	for i := range l.Len() {
		vs = append(vs, scalar(fd, l.Get(i)))
	}
	return "[" + strings.Join(vs, ", ") + "]"
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return fmt.Sprintf("%q", v.String())
	case protoreflect.BytesKind:
		return fmt.Sprintf("%q", v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return fmt.Sprint(v.Enum())
	case protoreflect.MessageKind:
		switch msg := v.Message().Interface().(type) {
		case *durationpb.Duration:
			return msg.AsDuration().String()
		default:
			// Not fmt.Sprint: prototext varies its spacing on purpose,
			// and the page must be the same bytes on every run.
			return "{" + strings.Join(ruleList(v.Message(), "", false), ", ") + "}"
		}
	}
	return fmt.Sprint(v.Interface())
}

// Slug is GitHub's anchor for a heading: lower case, every character but
// letters, digits, marks, spaces, - and _ dropped, spaces as dashes
// (internal/docs checks every link to an anchor with it).
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// generatedNote heads a generated page.
func generatedNote(from string) string {
	return "<!-- Generated by scripts/generate.sh from " + from + ". Do not edit: edit the source and regenerate. -->\n\n"
}
