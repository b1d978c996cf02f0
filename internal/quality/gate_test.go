package quality_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/quality"
	"github.com/riskd/riskd/internal/testproc"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestQualityGates runs the whole corpus through riskd as it runs in
// production: the real binary on its embedded defaults (fresh data
// directory and identifier key, loopback port), called over gRPC. It fails
// when a genuine case is declined, a fraud case approved, more than 5% of
// one check's genuine cases are held for review, or a case cannot be
// decided, and
// lists each such case with its outcome, score and reasons.
func TestQualityGates(t *testing.T) {
	cases, err := quality.Load(quality.Corpus, quality.CorpusDir)
	if err != nil {
		t.Fatal(err)
	}
	bin := testproc.Build(t, "./cmd/riskd")
	p := testproc.Start(t, bin, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, "riskd ready")
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	results := quality.Run(ctx, riskv1.NewRiskServiceClient(conn), cases, quality.Options{Parallel: 16})
	rep := quality.Build(quality.Items(results))
	var b strings.Builder
	rep.Write(&b)
	t.Logf("%d cases in %s\n%s", len(cases), time.Since(start).Round(time.Millisecond), b.String())
	failures, ok := rep.Gates()
	if !ok {
		var fb strings.Builder
		quality.WriteFailures(&fb, failures)
		t.Errorf("%d cases fail the quality gates (genuine never declined, fraud never approved, at most %.0f%% of a check's genuine cases reviewed):\n%s",
			len(failures), 100*quality.MaxGenuineReviewed, fb.String())
	}
	p.Stop(t)
}
