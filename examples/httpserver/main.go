// Httpserver is a small net/http server: run it with
//
//	brique run -p 8080:8080 ./examples/httpserver
//
// and fetch http://localhost:8080/ from the host.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	start := time.Now()
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from Brique! host=%s path=%s remote=%s uptime=%v\n", host, r.URL.Path, r.RemoteAddr, time.Since(start).Round(time.Millisecond))
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	// POST a body to /sum: the answer is its length and SHA-256.
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
	})
	// GET /bytes?n=N: N bytes (default 1 MiB) of a fixed pattern, byte i
	// being i mod 251, for download tests.
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n := int64(1 << 20)
		if s := r.URL.Query().Get("n"); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 || v > 1<<40 {
				http.Error(w, "n must be a byte count", http.StatusBadRequest)
				return
			}
			n = v
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		var buf [251 * 256]byte // a whole number of periods
		for i := range buf {
			buf[i] = byte(i % 251)
		}
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
