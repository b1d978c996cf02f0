package riskclient_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"testing"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"github.com/riskd/riskd/riskclient"
	"google.golang.org/grpc/codes"
)

// Ask riskd whether a refund may be paid. The README's "Calling riskd from
// Go" shows this example; TestExample runs it against a real riskd.
func Example() {
	// A riskd on loopback, in plaintext. In production:
	// riskclient.WithTLS(caFile) and riskclient.WithToken(token), or
	// riskclient.WithMTLS(certFile, keyFile, caFile).
	target := cmp.Or(os.Getenv("RISKD_ADDR"), "127.0.0.1:50051")
	c, err := riskclient.New(target, riskclient.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// No deadline here, so the client's default (2s) applies, retries
	// included.
	d, err := c.EvaluateRefund(context.Background(), &riskv1.EvaluateRefundRequest{
		// The idempotency key: a retry sends the same, and gets the
		// decision already made if the first answer was lost.
		RequestId:       "refund-order-7730-1",
		OrderId:         "order-7730",
		BuyerAccountId:  "acct-902",
		SellerId:        "seller-1001",
		Client:          &riskv1.Client{DeviceId: "dev-55aa", IpAddress: "192.0.2.10"},
		AmountRequested: &riskv1.Money{AmountMinor: 50000, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 20000, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	})
	var rerr *riskclient.Error
	switch {
	case errors.As(err, &rerr) && rerr.Code == codes.InvalidArgument:
		for _, f := range rerr.Fields {
			fmt.Println("fix", f.Field+":", f.Description)
		}
		return
	case riskclient.IsRetryable(err):
		// Unavailable or at capacity for as long as the deadline allowed.
		fmt.Println("no decision; fall back to manual review:", err)
		return
	case err != nil:
		log.Fatal(err)
	}
	// A DECLINE is a decision, not an error.
	fmt.Println(d.GetOutcome(), d.GetScore())
	for _, r := range d.GetReasons() {
		fmt.Println(r.GetCode()+":", r.GetMessage())
	}
}

// TestExample runs Example against a real riskd and checks what it prints.
func TestExample(t *testing.T) {
	p := startRiskd(t)
	t.Setenv("RISKD_ADDR", p.Addr)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	func() {
		defer func() { os.Stdout = stdout }()
		Example()
	}()
	_ = w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want := "OUTCOME_DECLINE 50\nREFUND_OVER_PAID: The refund asked for is larger than the amount paid.\n"
	if string(out) != want {
		t.Errorf("Example printed:\n%s\nwant:\n%s", out, want)
	}
}
