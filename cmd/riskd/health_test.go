package main

import "testing"

// The probe asks where the server listens, from the same machine.
func TestProbeAddr(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:50051":   "127.0.0.1:50051", // every interface: loopback is one
		"[::]:50051":      "[::1]:50051",
		":7000":           "127.0.0.1:7000",
		"127.0.0.1:50051": "127.0.0.1:50051",
		"10.1.2.3:9000":   "10.1.2.3:9000", // one interface: that one
		"localhost:9000":  "localhost:9000",
	} {
		got, err := probeAddr(listen)
		if err != nil || got != want {
			t.Errorf("probeAddr(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	for _, listen := range []string{"127.0.0.1:0", "nowhere"} {
		if got, err := probeAddr(listen); err == nil {
			t.Errorf("probeAddr(%q) = %q, want an error", listen, got)
		}
	}
}
