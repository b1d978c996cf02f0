package rediscount

import (
	"errors"
	"strconv"
	"strings"

	"github.com/riskd/riskd/internal/store"
)

// A sorted-set member is one event, written so that Redis's own order of
// members with the same score (bytes, lowest first) is the order Events
// returns, time then ID, and so that the same event always encodes to the
// same member, which makes ZADD NX count it once however often it is
// written:
//
//	16 hex digits  its time in nanoseconds, offset binary (sign bit
//	               flipped), so that byte order is time order
//	ID             with each 0x00 written as 0x00 0xff
//	0x00 0x01      end of the ID: sorts below any escaped or longer ID
//	amount 0x00 quantity 0x00 ref
//
// Amount and quantity are decimal; ref is last, so it may hold anything.
const (
	timeDigits = 16
	idEnd      = "\x00\x01"
)

var errCorrupt = errors.New("rediscount: corrupt event member")

// encodeMember returns e's member; e.At is read to the nanosecond.
func encodeMember(e store.Event) string {
	var b strings.Builder
	b.Grow(timeDigits + len(e.ID) + len(idEnd) + 2*20 + 2 + len(e.Ref))
	u := uint64(e.At.UnixNano()) ^ (1 << 63)
	t := strconv.FormatUint(u, 16)
	for range timeDigits - len(t) {
		b.WriteByte('0')
	}
	b.WriteString(t)
	for i := range len(e.ID) {
		b.WriteByte(e.ID[i])
		if e.ID[i] == 0 {
			b.WriteByte(0xff)
		}
	}
	b.WriteString(idEnd)
	b.WriteString(strconv.FormatInt(e.Amount, 10))
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.Quantity, 10))
	b.WriteByte(0)
	b.WriteString(e.Ref)
	return b.String()
}

// decoded is a member read back: the event without its series and key,
// which the sorted set's name holds.
type decoded struct {
	nanos    int64
	id       string
	amount   int64
	quantity int64
	ref      string
}

// decodeMember parses a member written by encodeMember.
func decodeMember(m string) (decoded, error) {
	var d decoded
	if len(m) < timeDigits {
		return d, errCorrupt
	}
	u, err := strconv.ParseUint(m[:timeDigits], 16, 64)
	if err != nil {
		return d, errCorrupt
	}
	d.nanos = int64(u ^ (1 << 63))
	rest := m[timeDigits:]
	var id strings.Builder
	for {
		i := strings.IndexByte(rest, 0)
		if i < 0 || i+1 >= len(rest) {
			return d, errCorrupt
		}
		id.WriteString(rest[:i])
		switch rest[i+1] {
		case 0xff:
			id.WriteByte(0)
			rest = rest[i+2:]
			continue
		case idEnd[1]:
			rest = rest[i+2:]
		default:
			return d, errCorrupt
		}
		break
	}
	d.id = id.String()
	parts := strings.SplitN(rest, "\x00", 3)
	if len(parts) != 3 {
		return d, errCorrupt
	}
	if d.amount, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
		return d, errCorrupt
	}
	if d.quantity, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return d, errCorrupt
	}
	d.ref = parts[2]
	return d, nil
}
