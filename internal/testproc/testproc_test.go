package testproc

import (
	"os/exec"
	"strings"
	"testing"
)

// The race detector covers the processes a test starts, not only the test
// binary: under go test -race (with cgo on) Build's binaries carry -race.
func TestBuildMatchesTheRaceDetector(t *testing.T) {
	race, err := RaceBuild()
	if err != nil {
		t.Fatal(err)
	}
	bin := Build(t, "./cmd/licence-registry")
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	got := strings.Contains(string(out), "\tbuild\t-race=true\n")
	if got != race {
		t.Errorf("binary built with -race = %v, want %v (test binary race-built: %v)\n%s", got, race, raceBuilt, out)
	}
	if raceBuilt && !race {
		t.Log("this test binary runs under -race but cgo is off: started binaries are built without it")
	}
}
