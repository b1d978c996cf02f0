package quality

import (
	"strings"
	"testing"
)

func TestScopedIDFitsTheAPI(t *testing.T) {
	if got := scopedID("run/case/h1"); got != "run/case/h1" {
		t.Errorf("a short ID changed: %q", got)
	}
	long := "quality-20261207T041343.123456789/" + strings.Repeat("a-very-long-case-name-", 5)
	a, b := scopedID(long+"/h1"), scopedID(long+"/h2")
	if len(a) != maxID || len(b) != maxID || a == b {
		t.Errorf("scopedID of two long IDs = %q (%d), %q (%d); want two distinct IDs of %d", a, len(a), b, len(b), maxID)
	}
}
