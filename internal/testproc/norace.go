//go:build !race

package testproc

// raceBuilt reports whether this test binary was built with -race: the
// binaries it starts are then built with -race too.
const raceBuilt = false
