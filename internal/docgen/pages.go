package docgen

import "path/filepath"

// Page is one generated page: its path under the repository and content.
type Page struct {
	Name    string // relative to the repository, with slashes
	Content []byte
}

// Path is where the page goes under root.
func (p Page) Path(root string) string { return filepath.Join(root, filepath.FromSlash(p.Name)) }

// Pages renders every generated page: set is the API's descriptors with
// source info, root the repository (the configuration reference reads
// internal/config's source for the comments on its fields).
func Pages(set []byte, root string) ([]Page, error) {
	files, err := LoadDescriptors(set)
	if err != nil {
		return nil, err
	}
	reasons, err := ReasonCodes(root)
	if err != nil {
		return nil, err
	}
	configuration, err := ConfigReference(root)
	if err != nil {
		return nil, err
	}
	return []Page{
		{Name: "docs/api.md", Content: APIReference(files)},
		{Name: "docs/reason-codes.md", Content: reasons},
		{Name: "docs/configuration.md", Content: configuration},
	}, nil
}
