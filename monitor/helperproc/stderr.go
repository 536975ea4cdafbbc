package helperproc

import (
	"io"
	"os"
)

// StderrFile returns the file to give a helper process as its standard
// error so that what it writes there reaches w: devnull if w is nil, w
// itself if it is an *os.File, else the write end of a pipe whose read
// end a goroutine copies to w with plain reads and writes. In that last
// case copied is not nil: the caller closes f once the process has
// started (the process has its copy), and copied is closed when the
// process's copy is closed too (it exited) and everything has reached w.
func StderrFile(w io.Writer, devnull *os.File) (f *os.File, copied <-chan struct{}, err error) {
	switch w := w.(type) {
	case nil:
		return devnull, nil, nil
	case *os.File:
		return w, nil, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go copyLog(w, r, done)
	return pw, done, nil
}

// copyLog copies r to w until r's end of file, then closes r and done.
func copyLog(w io.Writer, r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		if n > 0 {
			w.Write(b[:n])
		}
		if err != nil {
			return
		}
	}
}
