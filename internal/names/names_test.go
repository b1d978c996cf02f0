package names_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/riskd/riskd/internal/names"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"full width to half width", "ＡＢＣ", "abc"},
		{"full-width digits", "１２３", "123"},
		{"upper case", "Chen Wei", "chenwei"},
		{"spaces anywhere", "  张 三  ", "张三"},
		{"ideographic space", "张\u3000三", "张三"},
		{"no-break space", "Chen\u00a0Wei", "chenwei"},
		{"tab and newline", "Chen\tWei\n", "chenwei"},
		{"middle dot", "买买提·艾力", "买买提艾力"},
		{"bullet as middle dot", "买买提•艾力", "买买提艾力"},
		{"katakana middle dot", "买买提・艾力", "买买提艾力"},
		{"half-width katakana middle dot", "买买提･艾力", "买买提艾力"},
		{"hyphenation point", "买买提‧艾力", "买买提艾力"},
		{"full stop", "买买提.艾力", "买买提艾力"},
		{"full-width full stop", "买买提．艾力", "买买提艾力"},
		{"hyphen-minus", "Jean-Pierre", "jeanpierre"},
		{"full-width hyphen-minus", "Jean－Pierre", "jeanpierre"},
		{"commas", "Acme Trading Co., Ltd.", "acmetradingcoltd"},
		{"full-width comma", "有限公司，福州", "有限公司福州"},
		{"only separators", " ·-.，\u3000", ""},
		{"invalid UTF-8 is dropped", "张\xff三", "张三"},
		{"only invalid UTF-8", "\xff\xfe\xfd", ""},
		{"decomposed accent composes", "Jose\u0301", "josé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names.Canonical(tt.in); got != tt.want {
				t.Errorf("Canonical(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSame(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		// Width, case and spacing.
		{"full width and half width", "ＡＢＣ", "ABC", true},
		{"full-width lower and upper", "ａｂｃ", "ABC", true},
		{"case", "CHEN WEI", "chen wei", true},
		{"spaces inside a Chinese name", "张 三", "张三", true},
		{"ideographic space", "张\u3000三", "张三", true},
		{"leading and trailing spaces", "  张三 ", "张三", true},
		{"identical", "张三", "张三", true},

		// Middle dots of transcribed names.
		{"middle dot", "买买提·艾力", "买买提艾力", true},
		{"bullet for middle dot", "买买提•艾力", "买买提·艾力", true},
		{"katakana middle dot", "买买提・艾力", "买买提·艾力", true},
		{"full stop for middle dot", "买买提.艾力", "买买提·艾力", true},
		{"spaced middle dot", "买买提 · 艾力", "买买提艾力", true},

		// Hyphens.
		{"hyphen", "Jean-Pierre Dupont", "jean pierre dupont", true},
		{"hyphen joined", "Jean-Pierre", "JeanPierre", true},
		{"full-width hyphen", "Jean－Pierre", "Jean-Pierre", true},
		{"U+2010 HYPHEN", "Jean\u2010Pierre", "Jean-Pierre", true},
		{"U+2011 NON-BREAKING HYPHEN", "Jean\u2011Pierre", "Jean-Pierre", true},

		// Latin name order.
		{"Latin names in the other order", "Chen Wei", "wei chen", true},
		{"Latin names, other order, extra spaces", "  CHEN   Wei ", "Wei Chen", true},
		{"three Latin words in another order", "Maria Garcia Lopez", "Lopez Maria Garcia", true},
		{"Latin names differing in one letter", "Chen Wei", "Chen Wen", false},
		{"Latin names, other order, differing", "Chen Wei", "Wen Chen", false},
		{"Latin name with an extra word", "Chen Wei", "Chen Wei Ming", false},
		{"Latin name with a missing word", "Chen Wei", "Chen", false},
		{"repeated word is not another word", "Chen Chen Wei", "Chen Wei Wei", false},
		// Only Latin names come in either order: 张三 is surname 张, and
		// 买买提·艾力 (Mamat, son of Ali) is not 艾力·买买提 (Ali, son of
		// Mamat), who may well be his father.
		{"Chinese name in the other order", "张 三", "三 张", false},
		{"transcribed name in the other order", "买买提·艾力", "艾力·买买提", false},

		// Different names.
		{"different Chinese names", "张三", "张四", false},
		{"different Chinese names with spaces", "张 三", "张 四", false},
		{"different transcribed names", "买买提·艾力", "买买提·阿力", false},
		{"one character more", "张三", "张三丰", false},

		// Companies.
		{"company with and without spaces", "福州某某贸易有限公司", "福州 某某 贸易 有限公司", true},
		{"company with full-width parentheses", "福州某某贸易（集团）有限公司", "福州某某贸易(集团)有限公司", true},
		{"Latin company, case and punctuation", "Acme Trading Co., Ltd.", "ACME TRADING CO LTD", true},
		{"different companies", "福州某某贸易有限公司", "福州某某科技有限公司", false},

		// Blanks match nothing, not even each other.
		{"two empty names", "", "", false},
		{"two spaces", "  ", "  ", false},
		{"two ideographic spaces", "\u3000", "\u3000", false},
		{"two middle dots", "·", "·", false},
		{"two hyphens", "-", "-", false},
		{"two full stops", ".", ".", false},
		{"separators and spaces", " · - ", "-·", false},
		{"empty and a name", "", "张三", false},
		{"a name and empty", "张三", "", false},
		{"blank and a name", "   ", "Chen Wei", false},
		{"two zero-width spaces", "\u200b", "\u200b", false},
		{"two byte order marks", "\ufeff", "\ufeff", false},

		// Invalid UTF-8.
		{"two invalid strings", "\xff\xfe", "\xff\xfe", false},
		{"invalid and empty", "\xff", "", false},
		{"invalid inside a name", "张\xff三", "张四", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names.Same(tt.a, tt.b); got != tt.want {
				t.Errorf("Same(%q, %q) = %v, want %v (Canonical %q and %q)",
					tt.a, tt.b, got, tt.want, names.Canonical(tt.a), names.Canonical(tt.b))
			}
			if got := names.Same(tt.b, tt.a); got != tt.want {
				t.Errorf("Same(%q, %q) = %v, want %v (reversed)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

// TestInvalidUTF8 checks that broken input neither panics nor leaks
// invalid UTF-8 into the canonical form.
func TestInvalidUTF8(t *testing.T) {
	inputs := []string{
		"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "张\xe5", "\xe5\xbc", "Chen \xffWei", "·\xff·",
		strings.Repeat("\xff", 1000), "a\x00b",
	}
	for _, s := range inputs {
		c := names.Canonical(s)
		if !utf8.ValidString(c) {
			t.Errorf("Canonical(%q) = %q, not valid UTF-8", s, c)
		}
		for _, other := range []string{"", s, "张三", "Chen Wei", "\xff"} {
			_ = names.Same(s, other)
			_ = names.Same(other, s)
		}
	}
}

func FuzzSame(f *testing.F) {
	seeds := [][2]string{
		{"ＡＢＣ", "ABC"},
		{"Chen Wei", "wei chen"},
		{"Chen Wei", "Chen Wen"},
		{"买买提·艾力", "买买提艾力"},
		{"张三", "张四"},
		{"", ""},
		{" · ", "-"},
		{"福州某某贸易有限公司", "福州 某某 贸易 有限公司"},
		{"\xff\xfe", "张\xff三"},
		{"Jean-Pierre Dupont", "dupont jean pierre"},
		{"\u200b", "\ufeff"},
		{"ǅ", "ǆ"},
		{"İ", "i"},
		{"e\u0301", "é"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := names.Same(a, b), names.Same(b, a)
		if ab != ba {
			t.Errorf("Same(%q, %q) = %v but Same(%q, %q) = %v", a, b, ab, b, a, ba)
		}
		ca := names.Canonical(a)
		if !utf8.ValidString(ca) {
			t.Errorf("Canonical(%q) = %q, not valid UTF-8", a, ca)
		}
		if ca != "" && !names.Same(a, a) {
			t.Errorf("Same(%q, itself) = false, Canonical %q", a, ca)
		}
		if ca == "" && names.Same(a, b) {
			t.Errorf("blank %q matches %q", a, b)
		}
		if strings.IndexFunc(ca, unicode.IsSpace) >= 0 {
			t.Errorf("Canonical(%q) = %q keeps a space", a, ca)
		}
	})
}

// Guards (issue 18, item 5): control, bidirectional-override and
// zero-width characters inside names are removed before names are
// compared, by one rule, wherever they stand; white space still separates.
func TestInvisibleCharacters(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"张\u200d三", "张三"},       // zero-width joiner
		{"\u202e张三\u202c", "张三"}, // right-to-left override and pop
		{"张\u2066三\u2069", "张三"}, // isolates
		{"张\x07三\x00", "张三"},     // control characters
		{"\ufeff福州某某贸易有限公司", "福州某某贸易有限公司"}, // byte order mark
		{"Ch\u200ben Wei", "Wei Chen"},     // inside a Latin word: still one word, either order
		{"Chen\u200bWei", "ChenWei"},
	} {
		if !names.Same(tc.a, tc.b) {
			t.Errorf("Same(%q, %q) = false, want true", tc.a, tc.b)
		}
	}
	if names.Same("张\t三", "李四") || !names.Same("张\t三", "张三") {
		t.Error("a tab is white space: it separates, and is not a different name")
	}
	if names.Same("\u200b\u202e", "\x00") {
		t.Error("names of invisible characters only match")
	}
}
