// Fileserver serves a static site embedded in the image and appends one
// line per request to an access log on a host volume. Build the site into
// the image's root file system and give the guest a host directory for the
// log:
//
//	mkdir -p /tmp/weblogs
//	brique run --rootfs examples/fileserver/site -v /tmp/weblogs:/data -p 8080:8080 ./examples/fileserver
//
// then fetch http://localhost:8080/ from the host and read
// /tmp/weblogs/access.log, which grows as the guest serves (each line is
// one write(2) on an O_APPEND descriptor; -sync makes the server fsync it
// too). Natively the same program runs on any directory:
//
//	go run ./examples/fileserver -root examples/fileserver/site -log /tmp/weblogs/access.log
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	root := flag.String("root", "/", "directory to serve")
	logPath := flag.String("log", "/data/access.log", "access log (appended to)")
	syncLog := flag.Bool("sync", false, "fsync the access log after each line")
	flag.Parse()

	f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		log.Fatalf("access log: %v (give the guest a directory for it: brique run -v HOSTDIR:/data)", err)
	}
	al := &accessLog{f: f, sync: *syncLog}
	files := http.FileServer(http.Dir(*root))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		files.ServeHTTP(rec, r)
		al.add(fmt.Sprintf("%s %s %s %q %d %d %v\n", start.UTC().Format(time.RFC3339), r.RemoteAddr, r.Method, r.URL.Path, rec.status, rec.n, time.Since(start).Round(time.Microsecond)))
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s on %s, logging to %s\n", *root, ln.Addr(), *logPath)
	log.Fatal(http.Serve(ln, handler))
}

// accessLog appends lines to the log file, one write per line.
type accessLog struct {
	mu   sync.Mutex
	f    *os.File
	sync bool
}

func (l *accessLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString(line); err != nil {
		log.Printf("access log: %v", err)
		return
	}
	if l.sync {
		if err := l.f.Sync(); err != nil {
			log.Printf("access log: %v", err)
		}
	}
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	n      int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.n += n
	return n, err
}
