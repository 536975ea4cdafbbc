// Package style checks rules of ../shared/STYLE.md that tools do not.
package style

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUnsafeIsFenced: `import "unsafe"` only in files named *_unsafe.go
// (or *_unsafe_test.go), so that a reviewer knows where to look.
func TestUnsafeIsFenced(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .git, .ci
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_unsafe.go") || strings.HasSuffix(path, "_unsafe_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
		if err != nil {
			t.Errorf("%s does not parse: %v", path, err)
			return nil
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "unsafe" {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s imports unsafe: move that code into a file named *_unsafe.go", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The repository has over 200 such files: far fewer means the walk
	// did not start at its root.
	if checked < 100 {
		t.Errorf("checked %d .go files under %s, want at least 100 (wrong root?)", checked, root)
	}
}
