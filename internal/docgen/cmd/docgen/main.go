// Command docgen writes the generated pages of docs/ (see package docgen).
// scripts/generate.sh runs it after buf has built the API's descriptors
// with their comments:
//
//	go run ./internal/docgen/cmd/docgen -descriptors FILE -root .
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/riskd/riskd/internal/docgen"
)

func main() {
	set := flag.String("descriptors", "", "FileDescriptorSet with source info (buf build --as-file-descriptor-set)")
	root := flag.String("root", ".", "the repository")
	flag.Parse()
	if err := run(*set, *root); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run(setPath, root string) error {
	if setPath == "" {
		return fmt.Errorf("-descriptors is required")
	}
	set, err := os.ReadFile(setPath)
	if err != nil {
		return err
	}
	pages, err := docgen.Pages(set, root)
	if err != nil {
		return err
	}
	for _, p := range pages {
		if err := os.WriteFile(p.Path(root), p.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}
