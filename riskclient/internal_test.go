package riskclient

import (
	"testing"
	"time"
)

func TestLoopbackTarget(t *testing.T) {
	for target, want := range map[string]bool{
		"127.0.0.1:50051":                true,
		"127.3.4.5:50051":                true,
		"[::1]:50051":                    true,
		"localhost:50051":                true,
		"LOCALHOST:50051":                true,
		"dns:///localhost:50051":         true,
		"dns://8.8.8.8/127.0.0.1:50051":  true,
		"passthrough:///127.0.0.1:50051": true,
		"unix:///run/riskd.sock":         true,
		"unix-abstract:riskd":            true,
		"10.1.2.3:50051":                 false,
		"riskd.internal:50051":           false,
		"dns:///riskd.internal:50051":    false,
		"localhost.evil.example:50051":   false,
		"xds:///riskd":                   false,
		"127.0.0.1.nip.io:50051":         false,
		"":                               false,
	} {
		if got := loopbackTarget(target); got != want {
			t.Errorf("loopbackTarget(%q) = %v, want %v", target, got, want)
		}
	}
}

// The backoff doubles from the first wait, is capped, and is jittered
// down by at most half.
func TestWait(t *testing.T) {
	c := &Client{backoff: 40 * time.Millisecond}
	for n, full := range map[int]time.Duration{
		1: 40 * time.Millisecond, 2: 80 * time.Millisecond, 3: 160 * time.Millisecond,
		6: MaxBackoff, 60: MaxBackoff,
	} {
		for range 100 {
			if w := c.wait(n); w <= full/2 || w > full {
				t.Fatalf("wait(%d) = %s, want in (%s, %s]", n, w, full/2, full)
			}
		}
	}
	if w := (&Client{}).wait(3); w != 0 {
		t.Errorf("no backoff: wait = %s, want 0", w)
	}
}
