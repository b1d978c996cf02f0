package server_test

// Timestamps through the real server: every request timestamp has a range
// (2000-01-01 to the server's clock + 24 h, risk.proto "Time ranges"), and
// no value inside it can talk a coached-victim order down.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// timestampPath is one google.protobuf.Timestamp field of a request, as
// the field descriptors from the request down to it.
type timestampPath []protoreflect.FieldDescriptor

func (p timestampPath) String() string {
	names := make([]string, len(p))
	for i, fd := range p {
		names[i] = string(fd.Name())
	}
	return strings.Join(names, ".")
}

// set writes ts at the path in m, creating the messages on the way.
func (p timestampPath) set(m proto.Message, ts *timestamppb.Timestamp) {
	r := m.ProtoReflect()
	for _, fd := range p[:len(p)-1] {
		r = r.Mutable(fd).Message()
	}
	r.Set(p[len(p)-1], protoreflect.ValueOfMessage(ts.ProtoReflect()))
}

// timestampPaths lists every singular Timestamp field reachable from md
// through singular message fields, so a field added later is tried too.
func timestampPaths(md protoreflect.MessageDescriptor, prefix timestampPath) []timestampPath {
	var out []timestampPath
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
			continue
		}
		path := append(slices.Clone(prefix), fd)
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			out = append(out, path)
		case "google.protobuf.Duration":
		default:
			if len(path) < 4 {
				out = append(out, timestampPaths(fd.Message(), path)...)
			}
		}
	}
	return out
}

// propOrder is the coached-victim order (fresh loan, active call, remote
// app) with identifiers of its own, so that calls do not feed each other's
// velocity windows or links.
func propOrder(now time.Time, n int) *riskv1.ScoreGiftCardPurchaseRequest {
	r := coachedGiftCardOrder(now)
	id := fmt.Sprintf("prop-%d", n)
	r.RequestId, r.OrderId, r.AccountId = id, id, "acct-"+id
	r.Client = &riskv1.Client{DeviceId: "dev-" + id, IpAddress: fmt.Sprintf("2001:db8::%x", n+1)}
	r.Payment.Fingerprint = "fp-" + id
	r.Recipient.Email = id + "@example.com"
	// One 2,000-yuan card: below the velocity thresholds, so the time
	// rules (fresh credit, the social-engineering pattern) are what the
	// score is made of, not a saturating burst.
	r.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: 200_000, Quantity: 1}}
	r.Total.AmountMinor = 200_000
	r.Session.RemoteAccessApp = false
	return r
}

// rawScore is the decision's score before clamping to 0..100: the sum of
// its enforced reasons, so a lost reason shows even above 100.
func rawScore(d *riskv1.Decision) int {
	var s int
	for _, r := range d.GetReasons() {
		if !r.GetShadow() {
			s += int(r.GetScore())
		}
	}
	return s
}

func TestTimestampCenturiesAheadRefusedNamingTheField(t *testing.T) {
	now := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	h := start(t, setup{clock: func() time.Time { return now }})
	paths := timestampPaths((&riskv1.ScoreGiftCardPurchaseRequest{}).ProtoReflect().Descriptor(), nil)
	if len(paths) < 7 {
		t.Fatalf("found %d timestamp fields, want at least 7: %v", len(paths), paths)
	}
	for i, p := range paths {
		for _, at := range []time.Time{now.AddDate(500, 0, 0), now.Add(24*time.Hour + time.Second), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)} {
			req := propOrder(now, i)
			p.set(req, timestamppb.New(at))
			_, err := h.client.ScoreGiftCardPurchase(context.Background(), req)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s = %s: got %v, want INVALID_ARGUMENT", p, at.Format(time.RFC3339), err)
				continue
			}
			if got := violations(err); !slices.Equal(got, []string{p.String()}) {
				t.Errorf("%s = %s: violations %v, want exactly the field", p, at.Format(time.RFC3339), got)
			}
		}
	}
}

// TestNoTimestampValueLowersACoachedOrder is the property behind the time
// ranges and on_rule_error: for every timestamp field of the order, no
// value validation accepts (the range's ends, the rules' own windows ± 1 s,
// the server's now) gives a lower score or a milder outcome than the
// mildest realistic value of that field (a minute to three years ago).
func TestNoTimestampValueLowersACoachedOrder(t *testing.T) {
	now := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	h := start(t, setup{clock: func() time.Time { return now }})
	ctx := context.Background()
	realistic := []time.Duration{time.Minute, time.Hour, 23 * time.Hour, 3 * 24 * time.Hour, 40 * 24 * time.Hour, 400 * 24 * time.Hour, 3 * 365 * 24 * time.Hour}
	edges := []time.Time{
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 0, 0, 1, 0, time.UTC),
		now.Add(-720*time.Hour - time.Second), now.Add(-720 * time.Hour), now.Add(-720*time.Hour + time.Second),
		now.Add(-72*time.Hour - time.Second), now.Add(-72 * time.Hour), now.Add(-72*time.Hour + time.Second),
		now.Add(-24*time.Hour - time.Second), now.Add(-24 * time.Hour), now.Add(-24*time.Hour + time.Second),
		now.Add(-time.Nanosecond), now, now.Add(time.Nanosecond), now.Add(time.Second),
		now.Add(24*time.Hour - time.Second), now.Add(24 * time.Hour),
	}
	severity := map[riskv1.Outcome]int{riskv1.Outcome_OUTCOME_APPROVE: 0, riskv1.Outcome_OUTCOME_REVIEW: 1, riskv1.Outcome_OUTCOME_DECLINE: 2}
	n := 0
	score := func(p timestampPath, at time.Time) (*riskv1.Decision, error) {
		n++
		req := propOrder(now, 1000+n)
		p.set(req, timestamppb.New(at))
		resp, err := h.client.ScoreGiftCardPurchase(ctx, req)
		return resp.GetDecision(), err
	}
	for _, p := range timestampPaths((&riskv1.ScoreGiftCardPurchaseRequest{}).ProtoReflect().Descriptor(), nil) {
		t.Run(p.String(), func(t *testing.T) {
			var floor *riskv1.Decision
			for _, age := range realistic {
				d, err := score(p, now.Add(-age))
				if err != nil {
					t.Fatalf("realistic value %s ago: %v", age, err)
				}
				if floor == nil || rawScore(d) < rawScore(floor) ||
					(rawScore(d) == rawScore(floor) && severity[d.GetOutcome()] < severity[floor.GetOutcome()]) {
					floor = d
				}
			}
			t.Logf("mildest realistic value: %s, raw score %d, %v", floor.GetOutcome(), rawScore(floor), codes_(floor))
			for _, at := range edges {
				d, err := score(p, at)
				if err != nil {
					t.Errorf("%s: accepted range refused: %v", at.Format(time.RFC3339Nano), err)
					continue
				}
				if rawScore(d) < rawScore(floor) || severity[d.GetOutcome()] < severity[floor.GetOutcome()] {
					t.Errorf("%s: %s raw score %d %v, below the mildest realistic value's %s %d %v",
						at.Format(time.RFC3339Nano), d.GetOutcome(), rawScore(d), codes_(d), floor.GetOutcome(), rawScore(floor), codes_(floor))
				}
			}
		})
	}
}
