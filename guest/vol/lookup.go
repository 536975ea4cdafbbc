package vol

import (
	"errors"
	"io"
	"path"
	"strings"
	"syscall"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// volume is one mounted host directory.
type volume struct {
	index    int
	tag      string
	dir      string // its guest directory: absolute, clean
	readOnly bool
	dev      uint64 // st_dev of its files

	client  *p9.Client
	root    p9.File // the attached root fid, never clunked
	rootQID p9.QID
	err     error // could not be mounted: every call fails with EIO
}

// maxWalk is how many names one Twalk carries (MAXWELEM of 9P).
const maxWalk = 16

// walk walks names (real directories, then any file) from the root, with
// the last file's attributes.
func (v *volume) walk(names []string) (p9.QID, p9.File, p9.Attr, error) {
	if len(names) == 0 {
		_, f, _, a, err := v.root.WalkGetAttr(nil)
		return v.rootQID, f, a, err
	}
	from := v.root
	var qid p9.QID
	var attr p9.Attr
	for len(names) > 0 {
		k := min(len(names), maxWalk)
		qids, f, _, a, err := from.WalkGetAttr(names[:k])
		if from != v.root {
			from.Close()
		}
		if err != nil {
			return p9.QID{}, nil, p9.Attr{}, err
		}
		if len(qids) != k {
			f.Close()
			return p9.QID{}, nil, p9.Attr{}, linux.EIO
		}
		from, qid, attr = f, qids[k-1], a
		names = names[k:]
	}
	return qid, from, attr, nil
}

// node is a file found by lookup: its volume, its real path from the
// volume's root (no symbolic link, no dot), and a fid walked to it (the
// caller closes it).
type node struct {
	vol  *volume
	path []string
	file p9.File
	qid  p9.QID
	attr p9.Attr
}

func (n *node) close() {
	if n != nil && n.file != nil {
		n.file.Close()
		n.file = nil
	}
}

func (n *node) isDir() bool     { return n.qid.Type&p9.TypeDir != 0 }
func (n *node) isSymlink() bool { return n.qid.Type&p9.TypeSymlink != 0 }

// splitPath splits a relative path into names, dropping empty names and
// ".".
func splitPath(p string) []string {
	var names []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			names = append(names, s)
		}
	}
	return names
}

// inside finds the volume holding the absolute guest path p (clean) and
// the names from its root.
func (s *server) inside(p string) (*volume, []string, bool) {
	for _, v := range s.vols {
		if p == v.dir {
			return v, nil, true
		}
		if rel, ok := strings.CutPrefix(p, v.dir+"/"); ok {
			return v, splitPath(rel), true
		}
	}
	return nil, nil, false
}

// lookup resolves the relative path rel from directory dir (real names from
// v's root), following symbolic links as Linux does: every link on the way,
// the last component only if follow (or if rel ends with a slash).
//
// It returns the file found. When only the last name is missing, it
// returns ENOENT with that name and the node of its directory (without a
// fid), for the calls that create it.
//
// It walks as many names as it can in one Twalk; when that fails it finds
// the culprit with shorter walks (first all but the last name, the usual
// case of a file to create, then one name at a time).
func (s *server) lookup(v *volume, dir []string, rel string, follow bool) (*node, string, syscall.Errno) {
	if v.err != nil {
		return nil, "", syscall.EIO
	}
	todo := splitPath(rel)
	mustDir := strings.HasSuffix(rel, "/")
	if mustDir {
		follow = true
	}
	cur := append([]string(nil), dir...)
	links := 0
	limit := 0 // the most names to walk at once (0: no limit)
	for {
		for len(todo) > 0 && todo[0] == ".." {
			if len(cur) == 0 {
				// Above the volume's root: on in the guest's name space.
				abs := path.Join(path.Dir(v.dir), strings.Join(todo[1:], "/"))
				nv, names, ok := s.inside(abs)
				if !ok || nv.err != nil {
					return nil, "", syscall.ENOENT
				}
				v, cur, todo = nv, nil, names
				continue
			}
			cur = cur[:len(cur)-1]
			todo = todo[1:]
		}
		if len(todo) == 0 {
			qid, f, attr, err := v.walk(cur)
			if err != nil {
				return nil, "", toErrno(err)
			}
			return &node{vol: v, path: cur, file: f, qid: qid, attr: attr}, "", 0
		}
		k := 0
		for k < len(todo) && todo[k] != ".." {
			k++
		}
		if limit > 0 {
			k = min(k, limit)
		}
		seg := todo[:k]
		rest := todo[k:]
		qid, f, attr, err := v.walk(append(cur[:len(cur):len(cur)], seg...))
		if err != nil {
			if len(seg) > 1 {
				if limit == 0 {
					limit = len(seg) - 1
				} else {
					limit = 1
				}
				continue
			}
			e := toErrno(err)
			if e == syscall.ENOENT && len(rest) == 0 {
				return &node{vol: v, path: cur}, seg[0], e
			}
			return nil, "", e
		}
		if qid.Type&p9.TypeSymlink != 0 && (len(rest) > 0 || follow) {
			target, err := f.Readlink()
			f.Close()
			if err != nil {
				return nil, "", toErrno(err)
			}
			if links++; links > maxSymlinks {
				return nil, "", syscall.ELOOP
			}
			if target == "" {
				return nil, "", syscall.ENOENT
			}
			cur = append(cur, seg[:len(seg)-1]...)
			if strings.HasSuffix(target, "/") && len(rest) == 0 {
				mustDir, follow = true, true
			}
			if target[0] == '/' {
				nv, names, ok := s.inside(path.Clean(target))
				if !ok || nv.err != nil {
					return nil, "", syscall.ENOENT
				}
				v, cur, todo = nv, nil, append(names, rest...)
			} else {
				todo = append(splitPath(target), rest...)
			}
			limit = 0
			continue
		}
		if (len(rest) > 0 || mustDir) && qid.Type&p9.TypeDir == 0 {
			f.Close()
			return nil, "", syscall.ENOTDIR
		}
		cur = append(cur, seg...)
		if len(rest) == 0 {
			return &node{vol: v, path: cur, file: f, qid: qid, attr: attr}, "", 0
		}
		f.Close()
		todo = rest
	}
}

// lookupParent resolves all of rel but its last name, which must be a
// directory, and returns it (with a fid) and the last name. The name is ""
// when rel names the start directory itself, and may be "." or "..".
func (s *server) lookupParent(v *volume, dir []string, rel string) (*node, string, syscall.Errno) {
	rel = strings.TrimRight(rel, "/")
	i := strings.LastIndexByte(rel, '/')
	name := rel[i+1:]
	parent := ""
	if i >= 0 {
		parent = rel[:i+1]
	}
	n, _, e := s.lookup(v, dir, parent, true)
	if e != 0 {
		return nil, "", e
	}
	if !n.isDir() {
		n.close()
		return nil, "", syscall.ENOTDIR
	}
	return n, name, 0
}

// toErrno is the Linux error number of a 9P call's error: Rlerror's as
// is, EIO for a broken transport.
func toErrno(err error) syscall.Errno {
	if err == nil || err == io.EOF {
		return 0
	}
	var e linux.Errno
	if errors.As(err, &e) {
		return syscall.Errno(e)
	}
	return syscall.EIO
}
