package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestEraseAcrossReplicas (issue 21, items 5-7): a person's orders go to
// two replicas on one PostgreSQL and one Redis; `riskd erase` on one of
// them forgets the person; afterwards neither a pg_dump of the schema nor
// Redis's keys and members hold any form of them, `riskd export` on the
// other replica finds nothing, and their next order starts without
// history, counted from zero on both replicas.
func TestEraseAcrossReplicas(t *testing.T) {
	schema := sharedBackends(t)
	pa, a := startReplica(t, schema, replicaRedis)
	pb, b := startReplica(t, schema, replicaRedis)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := make([]byte, 5)
	_, _ = rand.Read(tag)
	account, other := "acct-e"+hex.EncodeToString(tag), "acct-o"+hex.EncodeToString(tag)
	for i, r := range []*riskv1.ScoreGiftCardPurchaseRequest{
		// Request IDs are kept in clear by design (README, Storage): not
		// the account's.
		replicaOrder("r1-"+hex.EncodeToString(tag), account), replicaOrder("r2-"+hex.EncodeToString(tag), account),
		replicaOrder("r3-"+hex.EncodeToString(tag), account), replicaOrder("r4-"+hex.EncodeToString(tag), account),
		replicaOrder("r5-"+hex.EncodeToString(tag), other),
	} {
		if _, err := []riskv1.RiskServiceClient{a, b}[i%2].ScoreGiftCardPurchase(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := pseudonym.New(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[store.Kind]string{store.KindAccount: account, store.KindDevice: "dev-" + account,
		store.KindInstrument: "pi-" + account, store.KindRecipient: account + "@example.com"}
	forms := [][]byte{[]byte(keys.Ref(account))}
	var lines []string
	for kind, v := range subjects {
		id, _ := keys.Identifier(kind, v)
		forms = append(forms, []byte(v), id.Hash[:], []byte(hex.EncodeToString(id.Hash[:])))
		lines = append(lines, kind.Name()+"="+v)
	}
	accountID, _ := keys.Identifier(store.KindAccount, account)
	before := sharedDump(t, ctx, schema)
	if !bytes.Contains(before, []byte(hex.EncodeToString(accountID.Hash[:]))) || !bytes.Contains(before, []byte(keys.Ref(account))) {
		t.Fatal("before erasure the dump holds neither the account's hash nor its ref: the check below could not fail")
	}

	// The subjects go on standard input, out of the process list.
	out := riskdCommand(t, strings.Join(lines, "\n")+"\n", "erase", "--addr", pb.Addr)
	resp := &riskv1.EraseSubjectResponse{}
	if err := protojson.Unmarshal(out, resp); err != nil {
		t.Fatalf("riskd erase printed %s: %v", out, err)
	}
	if resp.GetCounts().GetDecisions() != 4 || resp.GetCounts().GetEvents() == 0 || resp.GetCounts().GetLinks() == 0 {
		t.Errorf("riskd erase: %v", resp)
	}

	after := sharedDump(t, ctx, schema)
	for _, f := range forms {
		if bytes.Contains(after, f) {
			t.Errorf("after erasure PostgreSQL or Redis still holds %q", f)
		}
	}
	if !bytes.Contains(after, []byte(other)) {
		t.Error("the erasure removed another customer's data")
	}

	exp := &riskv1.ExportSubjectResponse{}
	if err := protojson.Unmarshal(riskdCommand(t, "", "export", "--addr", pa.Addr, "account="+account), exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.GetDecisions())+len(exp.GetOutcomes()) != 0 {
		t.Errorf("export after erasure: %v", exp)
	}

	// A new order starts without history, on either replica.
	for i, c := range []riskv1.RiskServiceClient{a, b} {
		r, err := c.ScoreGiftCardPurchase(ctx, replicaOrder(fmt.Sprintf("after-%d-%x", i, tag), account))
		if err != nil {
			t.Fatal(err)
		}
		if got := signalNamed(t, r.GetDecision(), "velocity.account.10m.count").GetIntValue(); got != int64(i+1) {
			t.Errorf("order %d after erasure counts %d orders in 10 minutes, want %d", i+1, got, i+1)
		}
	}
}

// riskdCommand runs the riskd binary with args and stdin, and returns its
// standard output; a failure fails the test.
func riskdCommand(t *testing.T, stdin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("riskd %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// sharedDump is what the replicas' shared stores hold: a pg_dump of the
// schema's data, then every Redis key of its prefix with its members.
func sharedDump(t *testing.T, ctx context.Context, schema string) []byte {
	t.Helper()
	out, err := exec.CommandContext(ctx, "pg_dump", "--data-only", "-n", schema, replicaPG).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	rc := redis.NewClient(&redis.Options{Addr: replicaRedis})
	defer rc.Close()
	iter := rc.Scan(ctx, 0, "riskd:"+schema+":*", 1000).Iterator()
	for iter.Next(ctx) {
		out = append(append(out, iter.Val()...), '\n')
		members, err := rc.ZRange(ctx, iter.Val(), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			out = append(append(out, m...), '\n')
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
