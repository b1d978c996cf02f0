package policy

import "testing"

func TestSmokeDefault(t *testing.T) {
	_, err := Load(DefaultBytes(), DefaultSource, map[string]bool{"identity": true, "license": true})
	if err != nil {
		t.Fatal(err)
	}
}
