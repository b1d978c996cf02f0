package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/store/storetest"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Raw personal values the load sends; none may reach the data files.
const (
	rawIDNumber = "11010519491231002X"
	rawUSCC     = "91350100M000100Y43"
	rawMobile   = "13912345678"
	rawPayout   = "6222020200998877665"
	rawEmail    = "raw.person@mailinator.com" // disposable: a finding must not leak it either
	rawLandline = "010-12345678"
	rawAddress  = "北京市东城区王府井大街 1 号"
	rawChat     = "wx_rawperson"
	rawIP       = "198.51.100.77"
)

func dial(t *testing.T, addr string) riskv1.RiskServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return riskv1.NewRiskServiceClient(conn)
}

func sellerReq(i int) *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: fmt.Sprintf("seller-%d", i), SellerId: fmt.Sprintf("s-%d", i),
		Client:   &riskv1.Client{DeviceId: fmt.Sprintf("dev-%d", i%37), IpAddress: rawIP},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: rawIDNumber, FullName: "张三"},
		License:  &riskv1.BusinessLicense{Uscc: rawUSCC, CompanyName: "某某贸易有限公司", LegalRepresentative: "张三"},
		Contact:  &riskv1.Contact{Mobile: rawMobile, Email: rawEmail, Landline: rawLandline, Address: rawAddress, ChatHandle: rawChat},
		Payout:   &riskv1.PayoutAccount{AccountNumber: rawPayout, HolderName: "某某贸易有限公司"},
	}
}

func giftCardReq(i int, account string) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId: fmt.Sprintf("gc-%d", i), OrderId: fmt.Sprintf("o-%d", i), AccountId: account,
		AccountCreatedAt: timestamppb.New(time.Now().AddDate(-1, 0, 0)),
		Client:           &riskv1.Client{DeviceId: fmt.Sprintf("dev-%d", i%37), IpAddress: "192.0.2.1"},
		Total:            &riskv1.Money{AmountMinor: int64(1000 + i), Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: int64(1000 + i), Quantity: 1}},
		Payment:          &riskv1.PaymentInstrument{Fingerprint: "fp-" + account, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD},
		Recipient:        &riskv1.Recipient{Phone: rawMobile, OwnedByAccount: true},
	}
}

// TestKilledMidLoadLosesNothingAnswered sends decisions from concurrent
// clients, kills riskd with SIGKILL while they are in flight, restarts it on
// the same data, and finds every answered decision unchanged.
func TestKilledMidLoadLosesNothingAnswered(t *testing.T) {
	dataDir := t.TempDir()
	p := startBinary(t, "--data-dir", dataDir)
	client := dial(t, p.Addr)

	var mu sync.Mutex
	answered := map[string]*riskv1.Decision{}
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	const workers, limit = 16, 4000
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(sent.Add(1))
				if i > limit {
					return
				}
				var d *riskv1.Decision
				if i%2 == 0 {
					resp, err := client.CheckSeller(ctx, sellerReq(i))
					if err != nil {
						return // the kill
					}
					d = resp.GetDecision()
				} else {
					resp, err := client.ScoreGiftCardPurchase(ctx, giftCardReq(i, fmt.Sprintf("acct-%d", w)))
					if err != nil {
						return
					}
					d = resp.GetDecision()
				}
				mu.Lock()
				answered[d.GetDecisionId()] = d
				mu.Unlock()
			}
		})
	}
	// Kill once a good share has been answered, with the rest in flight.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 2000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.Kill(t)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(answered) < 2000 {
		t.Fatalf("only %d decisions answered before the kill", len(answered))
	}

	p2 := startBinary(t, "--data-dir", dataDir)
	client2 := dial(t, p2.Addr)
	for id, want := range answered {
		got, err := client2.GetDecision(context.Background(), &riskv1.GetDecisionRequest{DecisionId: id})
		if err != nil {
			t.Fatalf("answered decision %s lost after SIGKILL: %v", id, err)
		}
		if !proto.Equal(got.GetDecision(), want) {
			t.Fatalf("decision %s changed after restart:\n%v\n%v", id, got.GetDecision(), want)
		}
	}
	t.Logf("%d answered decisions all retrievable after SIGKILL", len(answered))
}

// TestHistorySurvivesRestartWithoutRawIdentifiers decides, restarts, decides
// again, and then reads the store itself: counts made before the restart are
// still counted, links survive, and no raw identifier is anywhere on disk.
func TestHistorySurvivesRestartWithoutRawIdentifiers(t *testing.T) {
	dataDir := t.TempDir()
	p := startBinary(t, "--data-dir", dataDir)
	c := dial(t, p.Addr)
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.ScoreGiftCardPurchase(ctx, giftCardReq(i, "acct-restart")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CheckSeller(ctx, sellerReq(1)); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)

	p2 := startBinary(t, "--data-dir", dataDir)
	c2 := dial(t, p2.Addr)
	if _, err := c2.ScoreGiftCardPurchase(ctx, giftCardReq(3, "acct-restart")); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CheckSeller(ctx, sellerReq(2)); err != nil {
		t.Fatal(err)
	}
	p2.Stop(t)

	keyHex, err := os.ReadFile(filepath.Join(dataDir, pseudonym.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := pseudonym.LoadKey(string(keyHex), "")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := pseudonym.New(key)
	st, err := pebblestore.Open(dataDir, pebblestore.Options{KeyCheck: keys.Check()})
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := keys.Identifier(store.KindAccount, "acct-restart")
	a, err := storetest.Aggregate(ctx, st, history.SeriesGiftCard, acct, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || a.Count != 4 {
		t.Fatalf("count across a restart: %+v %v, want 4", a, err)
	}
	idn, _ := keys.Identifier(store.KindIDNumber, rawIDNumber)
	links, err := st.Linked(ctx, idn, 0)
	if err != nil || len(links) != 2 {
		t.Fatalf("identity number links across a restart: %v %v, want sellers s-1 and s-2", links, err)
	}
	st.Close()

	raws := []string{rawIDNumber, rawUSCC, rawMobile, rawPayout, rawEmail, "13912345678", "张三",
		rawLandline, "01012345678", rawAddress, "王府井大街", rawChat, rawIP, "某某贸易有限公司"}
	// Every key and value as stored (the files may compress them)...
	st, err = pebblestore.Open(dataDir, pebblestore.Options{KeyCheck: keys.Check()})
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	err = st.ForEachKV(func(k, v []byte) error {
		entries++
		for _, raw := range raws {
			if bytes.Contains(k, []byte(raw)) || bytes.Contains(v, []byte(raw)) {
				t.Errorf("stored key %q holds the raw value %q", k, raw)
			}
		}
		return nil
	})
	st.Close()
	if err != nil || entries == 0 {
		t.Fatalf("reading the store back: %d entries, %v", entries, err)
	}
	// ...and every file of the data directory, the write-ahead log included.
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			if bytes.Contains(b, []byte(raw)) {
				t.Errorf("%s holds the raw value %q", path, raw)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStartRefusesAnotherIdentifierKey(t *testing.T) {
	dataDir := t.TempDir()
	p := startBinary(t, "--data-dir", dataDir)
	p.Stop(t)
	bin := binary(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--identifier-key", strings.Repeat("ab", 32))
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("riskd started under another identifier key")
	}
	if !strings.Contains(stderr.String(), "identifier key differs") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestStartRefusesADataDirInUse(t *testing.T) {
	dataDir := t.TempDir()
	startBinary(t, "--data-dir", dataDir)
	bin := binary(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("two riskd started on one data directory")
	}
	if !strings.Contains(stderr.String(), "in use by another process") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}
