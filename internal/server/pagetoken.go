package server

// Page tokens: where a listing goes on, opaque to the caller and checked
// when it comes back. A token is a keyset position (a time and a decision
// ID) with the filters it was made for and a MAC under the identifier key,
// in base64url: a caller can neither forge a position nor carry a token
// over to other filters (which would make a page skip what the first
// filters left out). Positions are keyset, not offsets: decisions that
// arrive between two pages are newer than every position, so a page never
// repeats or skips one.

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
)

// pageTokenV1 starts every token; the kind byte says which listing made it.
const (
	pageTokenV1   = 1
	tokenDecision = 'd'
	tokenCase     = 'c'
	tokenMACSize  = 16
	// maxTokenID bounds the decision ID a token carries (the API's 64).
	maxTokenID = 64
)

// pagePosition is a place in a listing: a time (decided_at, or a case's
// due time) and a decision ID.
type pagePosition struct {
	At time.Time
	ID string
}

// errPageToken is a token riskd did not make for this listing and these
// filters; status.go names the field.
var errPageToken = errors.New("page_token was not made by riskd for this listing and these filters; start again without it")

// makePageToken encodes a position for a listing (kind) whose filters hash
// to query.
func makePageToken(keys *pseudonym.Keyer, kind byte, query [8]byte, p pagePosition) string {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+1+len(p.ID)+8+tokenMACSize)
	b = append(b, pageTokenV1, kind)
	b = binary.AppendVarint(b, p.At.UnixNano())
	b = append(b, byte(len(p.ID)))
	b = append(b, p.ID...)
	b = append(b, query[:]...)
	mac := tokenMAC(keys, b)
	return base64.RawURLEncoding.EncodeToString(append(b, mac[:tokenMACSize]...))
}

func tokenMAC(keys *pseudonym.Keyer, body []byte) [32]byte {
	return keys.Content(append([]byte("riskd page token\x00"), body...))
}

// parsePageToken reads a token made by makePageToken for the same kind
// and query, or fails with errPageToken: whatever the bytes, it never
// panics, and it trusts nothing before the MAC is checked.
func parsePageToken(keys *pseudonym.Keyer, token string, kind byte, query [8]byte) (pagePosition, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 2+1+1+8+tokenMACSize {
		return pagePosition{}, errPageToken
	}
	body, mac := b[:len(b)-tokenMACSize], b[len(b)-tokenMACSize:]
	want := tokenMAC(keys, body)
	if subtle.ConstantTimeCompare(mac, want[:tokenMACSize]) != 1 {
		return pagePosition{}, errPageToken
	}
	if body[0] != pageTokenV1 || body[1] != kind {
		return pagePosition{}, errPageToken
	}
	rest := body[2:]
	nanos, n := binary.Varint(rest)
	if n <= 0 {
		return pagePosition{}, errPageToken
	}
	rest = rest[n:]
	if len(rest) < 1 {
		return pagePosition{}, errPageToken
	}
	l := int(rest[0])
	rest = rest[1:]
	if l > maxTokenID || len(rest) != l+8 {
		return pagePosition{}, errPageToken
	}
	if subtle.ConstantTimeCompare(rest[l:], query[:]) != 1 {
		return pagePosition{}, errPageToken
	}
	return pagePosition{At: time.Unix(0, nanos).UTC(), ID: string(rest[:l])}, nil
}
