package rediscount

import (
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

func FuzzMember(f *testing.F) {
	f.Add(int64(1767259800123456789), "evt-1", int64(100), int64(1), "recipient-1", int64(1767259800123456789), "evt-10")
	f.Add(int64(-1), "a\x00b", int64(-5), int64(0), "x\x00y", int64(-1), "a")
	f.Add(int64(0), "", int64(0), int64(0), "", int64(1), "\x00")
	f.Fuzz(func(t *testing.T, nanos int64, id string, amount, quantity int64, ref string, nanos2 int64, id2 string) {
		e := store.Event{ID: id, At: time.Unix(0, nanos), Amount: amount, Quantity: quantity, Ref: ref}
		m := encodeMember(e)
		d, err := decodeMember(m)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", e, err)
		}
		if d != (decoded{nanos: nanos, id: id, amount: amount, quantity: quantity, ref: ref}) {
			t.Fatalf("decode(encode(%+v)) = %+v", e, d)
		}
		// Byte order of members is time, then ID, order.
		m2 := encodeMember(store.Event{ID: id2, At: time.Unix(0, nanos2)})
		want := nanos < nanos2 || nanos == nanos2 && id < id2
		if nanos == nanos2 && id == id2 {
			return // the payload decides; nothing to check
		}
		if got := m < m2; got != want {
			t.Fatalf("member order of (%d, %q) < (%d, %q) is %v, want %v", nanos, id, nanos2, id2, got, want)
		}
	})
}

func TestDecodeRejectsCorruptMembers(t *testing.T) {
	for _, m := range []string{"", "zz", strings.Repeat("g", 16) + "x\x00\x011\x002\x00", "8000000000000000id", "8000000000000000id\x00\x02", "8000000000000000id\x00\x01x\x001\x00"} {
		if _, err := decodeMember(m); err == nil {
			t.Errorf("decodeMember(%q) accepted a corrupt member", m)
		}
	}
}
