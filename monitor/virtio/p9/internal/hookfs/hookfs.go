// Package hookfs wraps a 9P file system (a github.com/hugelgupf/p9
// Attacher) for the tests of monitor/virtio/p9 and its packages, so that
// they can hold a request inside the file system: a hook runs before
// every FSync. Only tests import it.
package hookfs

import hp9 "github.com/hugelgupf/p9/p9"

// OnFSync returns a, except that FSync on any file walked from its root
// calls hook first (hook may block; the request then waits).
func OnFSync(a hp9.Attacher, hook func()) hp9.Attacher {
	return attacher{a, hook}
}

type attacher struct {
	hp9.Attacher
	hook func()
}

func (a attacher) Attach() (hp9.File, error) {
	f, err := a.Attacher.Attach()
	if err != nil {
		return f, err
	}
	return file{f, a.hook}, nil
}

type file struct {
	hp9.File
	hook func()
}

func (f file) Walk(names []string) ([]hp9.QID, hp9.File, error) {
	q, g, err := f.File.Walk(names)
	if err != nil {
		return q, g, err
	}
	return q, file{g, f.hook}, nil
}

func (f file) FSync() error {
	f.hook()
	return f.File.FSync()
}
