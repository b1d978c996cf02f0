// Package pseudonym turns personal identifiers (identity and licence
// numbers, phones, e-mails, payout accounts, addresses, devices) into keyed
// hashes: HMAC-SHA256 under a secret key, after normalising each kind so
// that the same identifier typed two ways still matches. Stores only ever
// see the hashes; without the key they cannot be reversed by guessing, which
// a plain hash of a phone number or ID number can.
package pseudonym

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	"github.com/riskd/riskd/internal/store"
	"golang.org/x/text/unicode/norm"
)

// MinKeyBytes is the shortest key accepted: 256 bits, the strength
// HMAC-SHA256 offers.
const MinKeyBytes = 32

// KeyFileName is the key file created in the data directory when no key is
// configured.
const KeyFileName = "identifier.key"

// Keyer hashes identifiers under one key. It is safe for concurrent use.
type Keyer struct {
	key  []byte
	pool sync.Pool
}

// New returns a Keyer for key.
func New(key []byte) (*Keyer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("identifier key is %d bytes; at least %d are needed", len(key), MinKeyBytes)
	}
	k := &Keyer{key: append([]byte(nil), key...)}
	k.pool.New = func() any { return hmac.New(sha256.New, k.key) }
	return k, nil
}

func (k *Keyer) sum(parts ...[]byte) [store.HashSize]byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	for _, p := range parts {
		h.Write(p)
	}
	var out [store.HashSize]byte
	h.Sum(out[:0])
	k.pool.Put(h)
	return out
}

// Identifier normalises raw as its kind and hashes it. ok is false when
// nothing is left after normalising (an empty or blank field), so that
// blanks never link strangers to each other.
func (k *Keyer) Identifier(kind store.Kind, raw string) (id store.Identifier, ok bool) {
	n := Normalise(kind, raw)
	if n == "" {
		return store.Identifier{}, false
	}
	return store.Identifier{Kind: kind, Hash: k.sum([]byte{'i'}, []byte(n))}, true
}

// Ref hashes a caller-side ID (a seller ID, say) for use as an event Ref.
func (k *Keyer) Ref(s string) string {
	h := k.sum([]byte{'r'}, []byte(s))
	return hex.EncodeToString(h[:16])
}

// Content hashes arbitrary bytes, such as a request's encoding, so that a
// replayed request can be told from another without keeping it.
func (k *Keyer) Content(b []byte) [store.HashSize]byte { return k.sum([]byte{'c'}, b) }

// Check is a fingerprint of the key, safe to store: a store keeps it to
// refuse a later start under another key.
func (k *Keyer) Check() []byte {
	h := k.sum([]byte("riskd identifier key check v1"))
	return h[:]
}

// Normalise returns the canonical form of an identifier of a kind. Width
// (full-width digits), case, spaces and punctuation that people type
// differently are removed; what distinguishes identifiers is kept.
func Normalise(kind store.Kind, raw string) string {
	s := strings.TrimSpace(norm.NFKC.String(strings.ToValidUTF8(raw, "\uFFFD")))
	switch kind {
	case store.KindIDNumber, store.KindLicense:
		// The validators' canonical form (DocumentNumber), so a valid
		// number is hashed exactly as it was validated. Characters they
		// refuse are dropped here too: retyped copies of one bad number
		// still link, and a passport's MRZ, hashed under this kind, keeps
		// its letters and digits only.
		return keep(DocumentNumber(raw), isAlnum)
	case store.KindPayoutAccount:
		return strings.ToUpper(keep(s, isAlnum))
	case store.KindMobile, store.KindPhone:
		// A phone list entry matches a mobile, a landline or a recipient's
		// phone typed as people type them: the mobile's rule.
		return phone(s)
	case store.KindLandline:
		return landline(s)
	case store.KindEmail, store.KindChatHandle:
		return norm.NFKC.String(strings.ToLower(strings.Join(strings.Fields(s), "")))
	case store.KindRecipient:
		if strings.Contains(s, "@") {
			return norm.NFKC.String(strings.ToLower(strings.Join(strings.Fields(s), "")))
		}
		return phone(s)
	case store.KindAddress:
		// Addresses differ most in spacing and punctuation: 五四路100号 and
		// "五四路 100 号," are one place.
		return norm.NFKC.String(strings.ToLower(keep(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })))
	case store.KindEmailDomain:
		return emailDomain(s)
	case store.KindIP:
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap().String()
		}
		return ""
	default: // caller-side IDs: account, device, instrument, seller
		return s
	}
}

// emailDomain is the domain of an e-mail address, or the domain itself
// ("Example.COM.", "@example.com"): lower case, without spaces, a leading
// "@" or a trailing dot, so that user@EXAMPLE.com and a list entry
// example.com are one domain. An address without a domain has none.
func emailDomain(s string) string {
	s = norm.NFKC.String(strings.ToLower(strings.Join(strings.Fields(s), "")))
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(s, ".")
}

// DocumentNumber is the canonical form of a resident identity number (or
// residence-permit number) and of a Unified Social Credit Code: the one rule
// that the validators (internal/verifier/identity, internal/verifier/license)
// check and that Normalise hashes, so a number typed two ways is one number
// everywhere. The rule, the same for both documents:
//
//   - compatibility forms are folded (Unicode NFKC): full-width digits and
//     letters, as Chinese keyboards type them, become ASCII;
//   - white space (ASCII, ideographic, no-break), dashes (hyphen-minus,
//     full-width hyphen, en and em dash …) and invisible format characters
//     (zero-width space, byte-order mark) are removed wherever they are:
//     they carry nothing, people group long numbers with them, and the
//     check character still guards every character that counts;
//   - lower-case ASCII letters are upper-cased;
//   - everything else is kept, for the validator to refuse (a dot, a
//     slash, a Chinese character, a byte that is not UTF-8).
//
// A number already in canonical form (ASCII digits and capitals only) is
// returned as it is, without allocating.
func DocumentNumber(raw string) string {
	canonical := true
	for i := 0; i < len(raw) && canonical; i++ {
		c := raw[i]
		canonical = c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
	}
	if canonical {
		return raw
	}
	if out, ok := foldTyped(raw); ok {
		return out
	}
	s := norm.NFKC.String(strings.ToValidUTF8(raw, "\uFFFD"))
	// Removing a separator can join what NFKC composes (a letter and a
	// combining mark a space kept apart), so fold again until nothing
	// changes: the canonical form of a canonical form is itself. Each round
	// only removes or composes characters, so it ends; four rounds are
	// plenty for anything a person types.
	for range 4 {
		t := stripSeparators(s)
		if n := norm.NFKC.String(t); n != t {
			s = n
			continue
		}
		return t
	}
	return stripSeparators(s)
}

// foldTyped is DocumentNumber for what people type: ASCII and full-width
// digits and letters, spaces and hyphens, whose NFKC forms are the plain
// ASCII ones, mapped directly (NFKC costs ten times as much). ok is false
// for anything else, which takes the general path.
func foldTyped(raw string) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw))
	for _, r := range raw {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		case r >= '０' && r <= '９':
			r -= '０' - '0'
		case r >= 'Ａ' && r <= 'Ｚ':
			r -= 'Ａ' - 'A'
		case r >= 'ａ' && r <= 'ｚ':
			r -= 'ａ' - 'A'
		case r == ' ', r == '\t', r == '\n', r == '\r', r == '\u3000', r == '-', r == '－':
			continue
		default:
			return "", false
		}
		b.WriteByte(byte(r))
	}
	return b.String(), true
}

// stripSeparators removes white space, dashes and format characters and
// upper-cases ASCII letters (DocumentNumber's rule after folding).
func stripSeparators(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.IsSpace(r), unicode.Is(unicode.Pd, r), unicode.Is(unicode.Cf, r):
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isAlnum(r rune) bool { return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

func keep(s string, f func(rune) bool) string {
	var b strings.Builder
	for _, r := range s {
		if f(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// phone keeps the digits and drops China's country code, however often it
// was typed, so +86 138..., 0086-138... and 138... are one number.
func phone(s string) string {
	d := keep(s, func(r rune) bool { return r >= '0' && r <= '9' })
	for {
		switch {
		case strings.HasPrefix(d, "0086") && len(d) > 4:
			d = d[4:]
		case strings.HasPrefix(d, "86") && len(d) == 13:
			d = d[2:]
		default:
			return d
		}
	}
}

// landline keeps the digits and writes an international number
// (+86 591 ..., 0086 591 ...) as dialled at home, with its trunk zero.
func landline(s string) string {
	d := keep(s, func(r rune) bool { return r >= '0' && r <= '9' })
	switch {
	case strings.HasPrefix(d, "0086") && len(d) > 4:
		return "0" + strings.TrimLeft(d[4:], "0")
	case strings.HasPrefix(d, "86") && len(d) >= 11 && len(d) <= 13:
		return "0" + strings.TrimLeft(d[2:], "0")
	}
	return d
}

// LoadKey returns the identifier key: the configured one (hex), or the one
// in the data directory, creating it there on first start. created says the
// key is new, which the caller should log as a warning: losing that file
// breaks every stored link.
func LoadKey(configuredHex, dataDir string) (key []byte, created bool, err error) {
	if configuredHex != "" {
		key, err = hex.DecodeString(strings.TrimSpace(configuredHex))
		if err != nil {
			return nil, false, errors.New("identifier key is not hex")
		}
		return key, false, nil
	}
	path := filepath.Join(dataDir, KeyFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err = hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, false, fmt.Errorf("%s is not hex", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	// Write then rename, so a crash never leaves half a key behind.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, false, err
	}
	if f, err := os.Open(tmp); err == nil {
		_ = f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, false, err
	}
	return key, true, nil
}
