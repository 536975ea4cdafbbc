// Httpclient fetches a URL and prints the response: with the user network
// (the default), host.brique.internal is the host's loopback, so
//
//	python3 -m http.server 8000 &   # or any server on the host
//	brique run ./examples/httpclient http://host.brique.internal:8000/
//
// fetches from a server on the host.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://host.brique.internal:8000/"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	c := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpclient: reading the body:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s: %d bytes in %v\n", resp.Proto, resp.Status, len(body), time.Since(start).Round(time.Millisecond))
	os.Stdout.Write(body)
}
