// Bulk is the server of briquebench's bulk transfer benchmark: it listens
// on -addr, prints
//
//	listening on ADDR
//
// once the socket listens, and then, for every connection it accepts,
// writes -n bytes in -chunk writes, shuts its side down (FIN) and closes
// the connection once the client has closed its side. The data
// flows from the program to its client (guest to host when it runs as a
// Brique unikernel); the harness reads until EOF, checks the count and
// times it. The bytes are a fixed pattern: TCP neither compresses nor
// checks them, so their values do not matter.
//
// With -recv the data flows the other way (host to guest): for every
// connection it reads until the client's EOF, answers one line
//
//	received N
//
// with the byte count, and closes.
//
// It serves until it is killed.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
)

func main() {
	addr := flag.String("addr", ":9000", "listen `address`")
	n := flag.Int64("n", 1<<30, "bytes to write on each connection")
	chunk := flag.Int("chunk", 256<<10, "bytes per write (or, with -recv, read) call")
	recv := flag.Bool("recv", false, "receive until EOF instead of sending, then answer the count")
	flag.Parse()
	if *n < 0 || *chunk <= 0 {
		fmt.Fprintln(os.Stderr, "bulk: -n must be >= 0 and -chunk > 0")
		os.Exit(2)
	}
	// The pattern is only read (by Write), so the sending connections
	// share it; each receiving connection reads into a buffer of its own.
	buf := make([]byte, *chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		if *recv {
			go receive(c, *chunk)
		} else {
			go serve(c, *n, buf)
		}
	}
}

// receive reads c until EOF in chunk-byte reads into a buffer of its
// own, then answers the count.
func receive(c net.Conn, chunk int) {
	defer c.Close()
	buf := make([]byte, chunk)
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Printf("bulk: %v after %d bytes", err, n)
			return
		}
	}
	fmt.Fprintf(c, "received %d\n", n)
}

// serve writes n bytes of buf, repeated, to c, then half-closes it and
// waits for the client's EOF before closing: closing with unread input
// would reset the connection, and a reset can discard data still in
// flight. An error (the client went away) only ends this connection.
func serve(c net.Conn, n int64, buf []byte) {
	defer c.Close()
	for n > 0 {
		b := buf
		if int64(len(b)) > n {
			b = b[:n]
		}
		w, err := c.Write(b)
		n -= int64(w)
		if err != nil {
			log.Printf("bulk: %v (%d bytes not sent)", err, n)
			return
		}
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	io.Copy(io.Discard, c)
}
