package server_test

import (
	"context"
	"testing"
	"time"
	"unicode"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestReasonSentencesFollowTheLocale(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	en := coachedGiftCardOrder(time.Now())
	en.RequestId = "locale-en"
	zh := proto.Clone(en).(*riskv1.ScoreGiftCardPurchaseRequest)
	zh.RequestId, zh.Locale = "locale-zh", "zh-CN"
	zh.AccountId = "acct-zh" // its own history, so the two decide alike

	de, err := h.client.ScoreGiftCardPurchase(ctx, en)
	if err != nil {
		t.Fatal(err)
	}
	dz, err := h.client.ScoreGiftCardPurchase(ctx, zh)
	if err != nil {
		t.Fatal(err)
	}
	if de.GetDecision().GetOutcome() != dz.GetDecision().GetOutcome() {
		t.Fatalf("the locale changed the outcome: %s vs %s", de.GetDecision().GetOutcome(), dz.GetDecision().GetOutcome())
	}
	codesEN, codesZH := codes_(de.GetDecision()), codes_(dz.GetDecision())
	if len(codesEN) == 0 || len(codesEN) != len(codesZH) {
		t.Fatalf("codes differ: %v vs %v", codesEN, codesZH)
	}
	for i, r := range dz.GetDecision().GetReasons() {
		if r.GetCode() != codesEN[i] {
			t.Errorf("code %d is %s in zh-CN, %s in en: codes never change with the locale", i, r.GetCode(), codesEN[i])
		}
		if !hasHan(r.GetMessage()) {
			t.Errorf("%s from %s: %q is not in Chinese", r.GetCode(), r.GetSource(), r.GetMessage())
		}
		if hasHan(de.GetDecision().GetReasons()[i].GetMessage()) {
			t.Errorf("%s: the en sentence is in Chinese", r.GetCode())
		}
	}

	bad := proto.Clone(en).(*riskv1.ScoreGiftCardPurchaseRequest)
	bad.RequestId, bad.Locale = "locale-fr", "fr"
	if _, err := h.client.ScoreGiftCardPurchase(ctx, bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown locale: got %v, want INVALID_ARGUMENT", err)
	}
}
