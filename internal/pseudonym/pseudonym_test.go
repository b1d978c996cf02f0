package pseudonym_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
)

// allKinds lists every identifier kind, so that a kind added later without a
// case here shows up as a failing blank test rather than passing silently.
var allKinds = []store.Kind{
	store.KindIDNumber, store.KindLicense, store.KindMobile, store.KindLandline,
	store.KindEmail, store.KindPayoutAccount, store.KindDevice, store.KindAddress,
	store.KindAccount, store.KindInstrument, store.KindRecipient, store.KindSeller,
	store.KindChatHandle, store.KindIP, store.KindPhone, store.KindEmailDomain,
}

func newKeyer(t testing.TB, fill byte) *pseudonym.Keyer {
	t.Helper()
	k, err := pseudonym.New(bytes.Repeat([]byte{fill}, pseudonym.MinKeyBytes))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		name string
		kind store.Kind
		raw  string
		want string
	}{
		// Mobiles: digits only, China's country code dropped.
		{"mobile bare", store.KindMobile, "13800138000", "13800138000"},
		{"mobile full-width", store.KindMobile, "１３８００１３８０００", "13800138000"},
		{"mobile spaces", store.KindMobile, " 138 0013 8000 ", "13800138000"},
		{"mobile hyphens", store.KindMobile, "138-0013-8000", "13800138000"},
		{"mobile full-width hyphens", store.KindMobile, "１３８－００１３－８０００", "13800138000"},
		{"mobile +86", store.KindMobile, "+86 138 0013 8000", "13800138000"},
		{"mobile +86 packed", store.KindMobile, "+8613800138000", "13800138000"},
		{"mobile full-width +86", store.KindMobile, "＋８６ １３８００１３８０００", "13800138000"},
		{"mobile 0086", store.KindMobile, "0086-138-0013-8000", "13800138000"},
		{"mobile 0086 packed", store.KindMobile, "008613800138000", "13800138000"},
		{"mobile 86 without plus", store.KindMobile, "86 13800138000", "13800138000"},
		{"mobile (+86)", store.KindMobile, "(+86) 138 0013 8000", "13800138000"},
		// 11 digits that merely start with 86 are a number, not a prefix.
		{"mobile 11 digits starting 86", store.KindMobile, "86123456789", "86123456789"},
		{"mobile 11 digits starting 86 spaced", store.KindMobile, "861 2345 6789", "86123456789"},
		{"mobile 12 digits starting 86", store.KindMobile, "861234567890", "861234567890"},

		// Landlines: area code kept with its trunk zero.
		{"landline hyphen", store.KindLandline, "0591-87654321", "059187654321"},
		{"landline packed", store.KindLandline, "059187654321", "059187654321"},
		{"landline brackets", store.KindLandline, "(0591) 8765 4321", "059187654321"},
		{"landline full-width", store.KindLandline, "０５９１－８７６５４３２１", "059187654321"},
		// The international form of 0591-87654321 drops the trunk zero: it is
		// the same line and must normalise the same.
		{"landline +86 international form", store.KindLandline, "+86 591 8765 4321", "059187654321"},
		{"landline 0086 international form", store.KindLandline, "0086 591 8765 4321", "059187654321"},
		{"landline +86 Beijing", store.KindLandline, "+86 10 1234 5678", "01012345678"},

		// E-mails and chat handles: case and spaces.
		{"email case", store.KindEmail, "Zhang.San@Example.COM", "zhang.san@example.com"},
		{"email surrounding spaces", store.KindEmail, " \tzhang.san@example.com \n", "zhang.san@example.com"},
		{"email inner spaces", store.KindEmail, "zhang.san @ example.com", "zhang.san@example.com"},
		{"email full-width", store.KindEmail, "ｚｈａｎｇ．ｓａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zhang.san@example.com"},
		{"email ideographic space", store.KindEmail, "\u3000Zhang.San@example.com\u3000", "zhang.san@example.com"},
		{"chat handle case", store.KindChatHandle, " ZhangSan_WX ", "zhangsan_wx"},

		// Addresses: spacing and punctuation.
		{"address packed", store.KindAddress, "福建省福州市鼓楼区五四路100号", "福建省福州市鼓楼区五四路100号"},
		{"address spaced", store.KindAddress, "福建省福州市鼓楼区五四路 100 号", "福建省福州市鼓楼区五四路100号"},
		{"address trailing comma", store.KindAddress, "福建省福州市鼓楼区五四路100号,", "福建省福州市鼓楼区五四路100号"},
		{"address Chinese punctuation", store.KindAddress, "福建省，福州市。鼓楼区、五四路１００号（）", "福建省福州市鼓楼区五四路100号"},
		{"address latin", store.KindAddress, "No. 100, Wusi Rd.", "no100wusird"},

		// Identity, licence and payout numbers: ASCII letters and digits, upper case.
		{"id number lower x", store.KindIDNumber, "35010219900101123x", "35010219900101123X"},
		{"id number upper X", store.KindIDNumber, "35010219900101123X", "35010219900101123X"},
		{"id number spaced", store.KindIDNumber, " 350102 19900101 123x ", "35010219900101123X"},
		{"id number hyphens", store.KindIDNumber, "350102-19900101-123X", "35010219900101123X"},
		{"id number full-width", store.KindIDNumber, "３５０１０２１９９００１０１１２３ｘ", "35010219900101123X"},
		{"licence case and spaces", store.KindLicense, "91350100 ma2xyz1a2b", "91350100MA2XYZ1A2B"},
		{"payout spaced", store.KindPayoutAccount, "6222 0202 0000 1234 567", "6222020200001234567"},
		{"payout hyphens", store.KindPayoutAccount, "6222-0202-0000-1234-567", "6222020200001234567"},

		// Recipients: an e-mail or a phone.
		{"recipient email", store.KindRecipient, " Gift@Example.COM ", "gift@example.com"},
		{"recipient phone +86", store.KindRecipient, "+86 139 0013 9000", "13900139000"},
		{"recipient phone bare", store.KindRecipient, "13900139000", "13900139000"},

		// Phones of list entries: a mobile's rule, for any phone field.
		{"phone +86", store.KindPhone, "+86 138-0013-8000", "13800138000"},
		{"phone full-width", store.KindPhone, "１３８００１３８０００", "13800138000"},
		{"phone landline", store.KindPhone, "0591-8765 4321", "059187654321"},

		// E-mail domains: of an address, or the domain alone.
		{"domain of address", store.KindEmailDomain, "Shop@Example.COM", "example.com"},
		{"domain alone", store.KindEmailDomain, " Example.com. ", "example.com"},
		{"domain with at", store.KindEmailDomain, "@mailinator.com", "mailinator.com"},
		{"domain quoted local part", store.KindEmailDomain, `"a@b"@example.org`, "example.org"},
		{"domain missing", store.KindEmailDomain, "user@", ""},

		// IP addresses.
		{"ip v4", store.KindIP, "192.0.2.1", "192.0.2.1"},
		{"ip v4 spaces", store.KindIP, " 192.0.2.1\n", "192.0.2.1"},
		{"ip v4-mapped v6", store.KindIP, "::ffff:192.0.2.1", "192.0.2.1"},
		{"ip v6 case", store.KindIP, "2001:DB8::1", "2001:db8::1"},
		{"ip v6 long form", store.KindIP, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"ip garbage", store.KindIP, "not an address", ""},
		{"ip out of range", store.KindIP, "256.0.0.1", ""},
		{"ip with port", store.KindIP, "192.0.2.1:443", ""},

		// Caller-side IDs: trimmed, otherwise as given (case matters).
		{"account trimmed", store.KindAccount, "  Acct-7\t", "Acct-7"},
		{"account case kept", store.KindAccount, "ACCT-7", "ACCT-7"},
		{"device case kept", store.KindDevice, "Dev-AbC", "Dev-AbC"},
		{"device inner space kept", store.KindDevice, " dev abc ", "dev abc"},
		{"device punctuation kept", store.KindDevice, "dev-a.b_c", "dev-a.b_c"},
		{"instrument case kept", store.KindInstrument, "fp_Card-9", "fp_Card-9"},
		{"seller trimmed", store.KindSeller, "\nS-100 ", "S-100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pseudonym.Normalise(tt.kind, tt.raw); got != tt.want {
				t.Errorf("Normalise(%v, %q) = %q, want %q", tt.kind, tt.raw, got, tt.want)
			}
		})
	}
}

func TestNormaliseBlank(t *testing.T) {
	for _, kind := range allKinds {
		for _, raw := range []string{"", " ", "\t\n\r ", "\u3000", "\u00a0"} {
			if got := pseudonym.Normalise(kind, raw); got != "" {
				t.Errorf("Normalise(%v, %q) = %q, want empty", kind, raw, got)
			}
		}
	}
}

// TestNormaliseDistinguishes guards against normalising too much: values that
// are different identifiers must stay different.
func TestNormaliseDistinguishes(t *testing.T) {
	tests := []struct {
		kind store.Kind
		a, b string
	}{
		{store.KindMobile, "13800138000", "13800138001"},
		{store.KindMobile, "86123456789", "123456789"},
		{store.KindLandline, "0591-87654321", "0591-87654322"},
		{store.KindEmail, "a@example.com", "b@example.com"},
		{store.KindAddress, "福建省福州市鼓楼区五四路100号", "福建省福州市鼓楼区五四路101号"},
		{store.KindAddress, "福建省福州市鼓楼区五四路100号", "福建省福州市台江区五四路100号"},
		{store.KindIDNumber, "350102199001011234", "350102199001011235"},
		{store.KindIP, "192.0.2.1", "192.0.2.2"},
		{store.KindEmailDomain, "a@example.com", "a@example.org"},
		{store.KindEmailDomain, "example.com", "sub.example.com"},
		{store.KindPhone, "13800138000", "13800138001"},
		{store.KindIP, "::1", "127.0.0.1"},
		{store.KindAccount, "acct-7", "Acct-7"},
		{store.KindDevice, "dev-abc", "DEV-ABC"},
		{store.KindDevice, "dev abc", "devabc"},
		{store.KindInstrument, "fp-a", "fp_a"},
		{store.KindSeller, "s-100", "S-100"},
	}
	for _, tt := range tests {
		na, nb := pseudonym.Normalise(tt.kind, tt.a), pseudonym.Normalise(tt.kind, tt.b)
		if na == nb {
			t.Errorf("Normalise(%v): %q and %q both gave %q, want different", tt.kind, tt.a, tt.b, na)
		}
	}
}

func TestIdentifierMatchesAcrossSpellings(t *testing.T) {
	k := newKeyer(t, 1)
	tests := []struct {
		kind store.Kind
		a, b string
	}{
		{store.KindMobile, "+86 138 0013 8000", "13800138000"},
		{store.KindMobile, "１３８００１３８０００", "0086-138-0013-8000"},
		{store.KindEmail, "Zhang.San@Example.COM ", "zhang.san@example.com"},
		{store.KindIDNumber, "35010219900101123x", "350102 19900101 123X"},
		{store.KindAddress, "福建省福州市鼓楼区五四路 100 号", "福建省福州市鼓楼区五四路100号,"},
		{store.KindIP, "::ffff:192.0.2.1", "192.0.2.1"},
	}
	for _, tt := range tests {
		a, okA := k.Identifier(tt.kind, tt.a)
		b, okB := k.Identifier(tt.kind, tt.b)
		if !okA || !okB {
			t.Fatalf("Identifier(%v, %q/%q): ok = %v/%v, want true", tt.kind, tt.a, tt.b, okA, okB)
		}
		if a != b {
			t.Errorf("Identifier(%v): %q and %q hash differently", tt.kind, tt.a, tt.b)
		}
		if a.Kind != tt.kind {
			t.Errorf("Identifier(%v, %q).Kind = %v", tt.kind, tt.a, a.Kind)
		}
		if a.Hash == ([store.HashSize]byte{}) {
			t.Errorf("Identifier(%v, %q) has a zero hash", tt.kind, tt.a)
		}
	}

	// Different values under one key differ.
	x, _ := k.Identifier(store.KindMobile, "13800138000")
	y, _ := k.Identifier(store.KindMobile, "13800138001")
	if x == y {
		t.Error("different mobiles gave the same identifier")
	}
}

func TestIdentifierDependsOnKey(t *testing.T) {
	k1, k2 := newKeyer(t, 1), newKeyer(t, 2)
	for _, raw := range []string{"13800138000", "a@example.com", "dev-1"} {
		a, _ := k1.Identifier(store.KindDevice, raw)
		b, _ := k2.Identifier(store.KindDevice, raw)
		if a.Hash == b.Hash {
			t.Errorf("Identifier(%q) is the same under two keys", raw)
		}
		if k1.Ref(raw) == k2.Ref(raw) {
			t.Errorf("Ref(%q) is the same under two keys", raw)
		}
		if k1.Content([]byte(raw)) == k2.Content([]byte(raw)) {
			t.Errorf("Content(%q) is the same under two keys", raw)
		}
	}
}

func TestIdentifierBlank(t *testing.T) {
	k := newKeyer(t, 1)
	for _, kind := range allKinds {
		for _, raw := range []string{"", "   ", "\t\n"} {
			if id, ok := k.Identifier(kind, raw); ok || id != (store.Identifier{}) {
				t.Errorf("Identifier(%v, %q) = %v, %v; want zero, false", kind, raw, id, ok)
			}
		}
	}
	// Only punctuation is blank too once normalised, so it links nobody.
	for _, tt := range []struct {
		kind store.Kind
		raw  string
	}{
		{store.KindIDNumber, "--"},
		{store.KindMobile, "+ ()"},
		{store.KindAddress, ",。"},
		{store.KindIP, "x"},
	} {
		if _, ok := k.Identifier(tt.kind, tt.raw); ok {
			t.Errorf("Identifier(%v, %q): ok = true, want false", tt.kind, tt.raw)
		}
	}
}

func TestIdentifierHidesRawValue(t *testing.T) {
	k := newKeyer(t, 1)
	for _, tt := range []struct {
		kind store.Kind
		raw  string
	}{
		{store.KindMobile, "13800138000"},
		{store.KindEmail, "zhang.san@example.com"},
		{store.KindIDNumber, "35010219900101123X"},
		{store.KindDevice, "device-0123456789"},
	} {
		id, _ := k.Identifier(tt.kind, tt.raw)
		n := pseudonym.Normalise(tt.kind, tt.raw)
		for _, v := range []string{tt.raw, n} {
			if bytes.Contains(id.Hash[:], []byte(v)) || strings.Contains(hex.EncodeToString(id.Hash[:]), v) {
				t.Errorf("Identifier(%v, %q) contains %q", tt.kind, tt.raw, v)
			}
		}
	}
}

func TestDomainSeparation(t *testing.T) {
	k := newKeyer(t, 1)
	for _, s := range []string{"S-100", "dev-1", "13800138000"} {
		id, ok := k.Identifier(store.KindSeller, s)
		if !ok {
			t.Fatalf("Identifier(%q) not ok", s)
		}
		ref := k.Ref(s)
		if len(ref) != 32 {
			t.Errorf("Ref(%q) = %q, want 32 hex digits", s, ref)
		}
		if _, err := hex.DecodeString(ref); err != nil {
			t.Errorf("Ref(%q) = %q is not hex", s, ref)
		}
		if ref == hex.EncodeToString(id.Hash[:16]) {
			t.Errorf("Ref(%q) equals the prefix of Identifier(%q)", s, s)
		}
		content := k.Content([]byte(s))
		if content == id.Hash {
			t.Errorf("Content(%q) equals Identifier(%q)", s, s)
		}
		if ref == hex.EncodeToString(content[:16]) {
			t.Errorf("Ref(%q) equals the prefix of Content(%q)", s, s)
		}
		if k.Ref(s) != ref || k.Content([]byte(s)) != content {
			t.Errorf("Ref/Content(%q) not stable", s)
		}
	}
	if k.Ref("a") == k.Ref("b") {
		t.Error("Ref of different strings is equal")
	}
	if k.Content([]byte("a")) == k.Content([]byte("b")) {
		t.Error("Content of different bytes is equal")
	}
}

func TestCheck(t *testing.T) {
	key := bytes.Repeat([]byte{1}, pseudonym.MinKeyBytes)
	k1, err := pseudonym.New(key)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pseudonym.New(bytes.Clone(key))
	if err != nil {
		t.Fatal(err)
	}
	other := newKeyer(t, 2)

	c := k1.Check()
	if len(c) != store.HashSize {
		t.Fatalf("Check() is %d bytes, want %d", len(c), store.HashSize)
	}
	if !bytes.Equal(c, k1.Check()) || !bytes.Equal(c, again.Check()) {
		t.Error("Check() differs for the same key")
	}
	if bytes.Equal(c, other.Check()) {
		t.Error("Check() is the same for different keys")
	}
	if bytes.Equal(c, key) || bytes.Contains(c, key[:8]) {
		t.Error("Check() reveals the key")
	}
}

func TestNewKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, pseudonym.MinKeyBytes - 1} {
		if k, err := pseudonym.New(make([]byte, n)); err == nil || k != nil {
			t.Errorf("New(%d-byte key) = %v, %v; want an error", n, k, err)
		}
	}
	for _, n := range []int{pseudonym.MinKeyBytes, 64} {
		if _, err := pseudonym.New(make([]byte, n)); err != nil {
			t.Errorf("New(%d-byte key): %v", n, err)
		}
	}
}

func TestNewCopiesKey(t *testing.T) {
	key := bytes.Repeat([]byte{1}, pseudonym.MinKeyBytes)
	k, err := pseudonym.New(key)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := k.Identifier(store.KindDevice, "dev-1")
	key[0] = 99 // the caller reuses its buffer
	after, _ := k.Identifier(store.KindDevice, "dev-1")
	if before != after {
		t.Error("changing the caller's key buffer changed the Keyer's hashes")
	}
}

// TestKeyerConcurrent runs under -race: the Keyer pools HMAC states, so a
// state shared between goroutines would mix inputs and give wrong hashes.
func TestKeyerConcurrent(t *testing.T) {
	k := newKeyer(t, 3)
	const values = 50
	want := make([]store.Identifier, values)
	wantRef := make([]string, values)
	for i := range values {
		want[i], _ = k.Identifier(store.KindDevice, fmt.Sprintf("device-%d", i))
		wantRef[i] = k.Ref(fmt.Sprintf("seller-%d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 32 {
		wg.Go(func() {
			for n := range 400 {
				i := (g*7 + n) % values
				got, _ := k.Identifier(store.KindDevice, fmt.Sprintf("device-%d", i))
				if got != want[i] {
					select {
					case errs <- fmt.Sprintf("goroutine %d: Identifier(device-%d) differs", g, i):
					default:
					}
				}
				if r := k.Ref(fmt.Sprintf("seller-%d", i)); r != wantRef[i] {
					select {
					case errs <- fmt.Sprintf("goroutine %d: Ref(seller-%d) differs", g, i):
					default:
					}
				}
				_ = k.Check()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLoadKeyConfigured(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0xab}, 32)
	for _, in := range []string{hex.EncodeToString(key), " " + strings.ToUpper(hex.EncodeToString(key)) + "\n"} {
		got, created, err := pseudonym.LoadKey(in, dir)
		if err != nil {
			t.Fatalf("LoadKey(%q): %v", in, err)
		}
		if created || !bytes.Equal(got, key) {
			t.Errorf("LoadKey(%q) = %x, %v; want %x, false", in, got, created, key)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a configured key wrote to the data directory: %v", entries)
	}
	for _, bad := range []string{"zz", "abc", strings.Repeat("g", 64)} {
		if _, _, err := pseudonym.LoadKey(bad, dir); err == nil {
			t.Errorf("LoadKey(%q) accepted bad hex", bad)
		}
	}
}

func TestLoadKeyCreatesAndReloads(t *testing.T) {
	dir := t.TempDir()
	key, created, err := pseudonym.LoadKey("", dir)
	if err != nil {
		t.Fatalf("first LoadKey: %v", err)
	}
	if !created {
		t.Error("first LoadKey: created = false, want true")
	}
	if len(key) != pseudonym.MinKeyBytes {
		t.Errorf("created key is %d bytes, want %d", len(key), pseudonym.MinKeyBytes)
	}
	if bytes.Equal(key, make([]byte, len(key))) {
		t.Error("created key is all zero")
	}
	if _, err := pseudonym.New(key); err != nil {
		t.Errorf("New(created key): %v", err)
	}

	path := filepath.Join(dir, pseudonym.KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %o, want 600", perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(key) + "\n"; string(b) != want {
		t.Errorf("key file = %q, want %q", b, want)
	}
	if len(b) != 65 {
		t.Errorf("key file is %d bytes, want 64 hex digits and a newline", len(b))
	}

	again, created, err := pseudonym.LoadKey("", dir)
	if err != nil {
		t.Fatalf("second LoadKey: %v", err)
	}
	if created || !bytes.Equal(again, key) {
		t.Errorf("second LoadKey = %x, %v; want %x, false", again, created, key)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != pseudonym.KeyFileName {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data directory holds %v, want only %s", names, pseudonym.KeyFileName)
	}

	// Another directory gets another key.
	other, _, err := pseudonym.LoadKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, key) {
		t.Error("two data directories got the same key")
	}
}

func TestLoadKeyCorruptFile(t *testing.T) {
	for _, content := range []string{"not hex at all\n", strings.Repeat("a", 63) + "\n", "zz"} {
		dir := t.TempDir()
		path := filepath.Join(dir, pseudonym.KeyFileName)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if key, _, err := pseudonym.LoadKey("", dir); err == nil {
			t.Errorf("LoadKey with file %q = %x, want an error", content, key)
		}
		// The corrupt file is left for a person to look at, not replaced.
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("corrupt key file was rewritten to %q", b)
		}
	}
}

// A truncated but valid-hex file must not start the service: if LoadKey lets
// it through, New must refuse it.
func TestLoadKeyShortFileRefused(t *testing.T) {
	for _, content := range []string{"", "\n", "abcd\n"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, pseudonym.KeyFileName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		key, _, err := pseudonym.LoadKey("", dir)
		if err == nil {
			_, err = pseudonym.New(key)
		}
		if err == nil {
			t.Errorf("key file %q accepted", content)
		}
	}
}

func TestLoadKeyMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if _, _, err := pseudonym.LoadKey("", dir); err == nil {
		t.Error("LoadKey into a missing directory succeeded")
	}
}

func FuzzNormalise(f *testing.F) {
	for kind := range byte(14) {
		for _, s := range []string{
			"", " ", "13800138000", "+86 138 0013 8000", "0086-138-0013-8000",
			"86123456789", "0591-87654321", "Zhang.San@Example.COM",
			"福建省福州市鼓楼区五四路 100 号,", "35010219900101123x", "::ffff:192.0.2.1",
			"fe80::1%eth0", "１３８００１３８０００", "Dev-AbC",
		} {
			f.Add(kind, s)
		}
	}
	// Inputs that break idempotency: stripping one country code can leave
	// another, and dropping spaces or punctuation, or lower-casing, can leave
	// a sequence that NFKC composes (Hangul jamo, combining marks, the bytes
	// of one character split by a space).
	f.Add(byte(store.KindMobile-1), "0086 0086 13800138000")
	f.Add(byte(store.KindMobile-1), "0086 86 13800138000")
	f.Add(byte(store.KindMobile-1), "008600860")
	f.Add(byte(store.KindRecipient-1), "+0086 86 139 0013 9000")
	f.Add(byte(store.KindEmail-1), "J\u030c@example.com")
	f.Add(byte(store.KindEmail-1), "e \u0301@example.com")
	f.Add(byte(store.KindChatHandle-1), "\u1100 \u1161")
	f.Add(byte(store.KindAddress-1), "\u1100-\u1161")
	f.Add(byte(store.KindChatHandle-1), "\xef \xbd\x90") // halves of "ｐ" joined
	f.Add(byte(store.KindRecipient-1), "a@b\xcb \x9a")   // halves of U+02DA joined
	// Invalid UTF-8 must not pass through to the hash as it came.
	f.Add(byte(store.KindDevice-1), "dev-\xff")
	f.Add(byte(store.KindIP-1), "fe80::1%\xff")

	f.Fuzz(func(t *testing.T, kindByte byte, s string) {
		kind := store.Kind(kindByte%14 + 1)
		n := pseudonym.Normalise(kind, s)
		if again := pseudonym.Normalise(kind, n); again != n {
			t.Errorf("Normalise(%v) is not idempotent: %+q -> %+q -> %+q", kind, s, n, again)
		}
		if !utf8.ValidString(n) {
			t.Errorf("Normalise(%v, %q) = %+q is not valid UTF-8", kind, s, n)
		}
	})
}

// TestDocumentNumber is the normalisation rule for resident identity numbers
// and licence numbers, which the validators check and the hashes use.
func TestDocumentNumber(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"canonical", "11010519491231002X", "11010519491231002X"},
		{"lower-case x", "11010519491231002x", "11010519491231002X"},
		{"lower-case licence", "91350100m000100y43", "91350100M000100Y43"},
		{"surrounding spaces, tab, newline", " \t11010519491231002X\n", "11010519491231002X"},
		{"surrounding ideographic and no-break spaces", "\u300011010519491231002X\u00a0", "11010519491231002X"},
		{"full-width digits and letters", "９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"},
		{"full-width lower case", "９１３５０１００ｍ０００１００ｙ４３", "91350100M000100Y43"},
		{"grouped with spaces", "110105 19491231 002X", "11010519491231002X"},
		{"grouped with hyphens", "110105-19491231-002X", "11010519491231002X"},
		{"full-width hyphen", "110105－19491231－002X", "11010519491231002X"},
		{"en dash and em dash", "110105–19491231—002X", "11010519491231002X"},
		{"non-breaking hyphen", "110105\u201119491231002X", "11010519491231002X"},
		{"zero-width space and byte-order mark", "\ufeff110105\u200b19491231002X", "11010519491231002X"},
		{"a dot stays, for the validator to refuse", "110105.19491231.002X", "110105.19491231.002X"},
		{"a slash stays", "9135/0100M000100Y43", "9135/0100M000100Y43"},
		{"an underscore stays", "110105_19491231002X", "110105_19491231002X"},
		{"a Chinese character stays", "11010519491231002X号", "11010519491231002X号"},
		{"ideographic zero stays", "1101051949123100〇X", "1101051949123100〇X"},
		{"an invalid byte becomes U+FFFD", "11010519491231002\xff", "11010519491231002\uFFFD"},
		{"circled digit folds like any NFKC form", "①1010519491231002X", "11010519491231002X"},
		{"blank", " \u3000-", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pseudonym.DocumentNumber(tt.raw); got != tt.want {
				t.Errorf("DocumentNumber(%+q) = %+q, want %+q", tt.raw, got, tt.want)
			}
		})
	}
}

// TestDocumentNumberHashedAsValidated: the hash of a number typed any way
// the validators accept is the hash of its canonical form.
func TestDocumentNumberHashedAsValidated(t *testing.T) {
	k := newKeyer(t, 1)
	for kind, spellings := range map[store.Kind][]string{
		store.KindIDNumber: {"11010519491231002X", "11010519491231002x", "１１０１０５１９４９１２３１００２ｘ", " 110105-19491231-002X\u3000", "110105 19491231 002X"},
		store.KindLicense:  {"91350100M000100Y43", "91350100m000100y43", "９１３５０１００ｍ０００１００ｙ４３", "9135-0100-M000100Y43", " 91350100 M000100Y43 "},
	} {
		want, ok := k.Identifier(kind, spellings[0])
		if !ok {
			t.Fatalf("%v: canonical form not hashed", kind)
		}
		for _, s := range spellings {
			if got, _ := k.Identifier(kind, s); got != want {
				t.Errorf("%v: %+q hashes differently from %q", kind, s, spellings[0])
			}
			if n := pseudonym.Normalise(kind, s); n != pseudonym.DocumentNumber(s) || n != spellings[0] {
				t.Errorf("%v: Normalise(%+q) = %q, DocumentNumber = %q, want both %q", kind, s, n, pseudonym.DocumentNumber(s), spellings[0])
			}
		}
	}
}

func FuzzDocumentNumber(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "110105 19491231 002X", "１１０１０５－１９４９",
		"91350100m000100y43", "\ufeff1\u200b2", "a \u0308", "e \u0301", "\u1100 \u1161", "\xef \xbd\x90", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := pseudonym.DocumentNumber(s)
		if again := pseudonym.DocumentNumber(n); again != n {
			t.Errorf("not idempotent: %+q -> %+q -> %+q", s, n, again)
		}
		if !utf8.ValidString(n) {
			t.Errorf("DocumentNumber(%+q) = %+q is not valid UTF-8", s, n)
		}
		for _, r := range n {
			if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || unicode.Is(unicode.Cf, r) || (r >= 'a' && r <= 'z') {
				t.Errorf("DocumentNumber(%+q) = %+q keeps %+q", s, n, r)
			}
		}
		// Whatever the validators could accept (ASCII letters and digits)
		// hashes as itself.
		if n != "" && strings.Trim(n, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
			if h := pseudonym.Normalise(store.KindIDNumber, s); h != n {
				t.Errorf("Normalise(KindIDNumber, %+q) = %+q, want the canonical %+q", s, h, n)
			}
		}
	})
}
