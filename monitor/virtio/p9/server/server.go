// Package server serves 9P2000.L over a message connection (one 9P
// message per message, as package p9's Socket carries them) with the
// server of github.com/hugelgupf/p9, which decodes and encodes the
// messages and keeps the fids. It runs in brique-9pd, not in the
// monitor: that library imports package net, which would make the
// monitor a cgo binary that its seccomp filter kills
// (docs/decisions/009-volumes-9p.md).
//
// hugelgupf/p9's server reads a byte stream; Serve puts an adapter in
// between that
//
//   - feeds it whole messages, checked first so that the library never
//     sees a header it would treat as a broken connection (size below 7
//     or above the negotiated msize), a tag already in flight (it would
//     never answer) or a NOTAG other than Tversion's;
//   - bounds the requests in flight (Options.MaxInflight): the library
//     handles each in its own goroutine, so a slow fsync holds one of
//     them, not the others;
//   - makes Tversion a barrier (nothing after it until its reply), so
//     the adapter always knows the library's msize;
//   - cuts the replies back into messages, and gives an error reply
//     that the library could only tag NOTAG (a message too short for
//     its type) the tag of the request it answers, found by decoding
//     the requests in flight again in a scratch server.
//
// Every request gets exactly one reply, or none if it is too short to
// carry a tag or reuses a tag in flight.
package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hugelgupf/p9/linux"
	hp9 "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/virtio/p9"
)

// Conn carries 9P messages (p9.Socket is one).
type Conn interface {
	ReadMessage(buf []byte) (int, error)
	WriteMessage(msg []byte) error
	Close() error
}

// DefaultMaxInflight is Options.MaxInflight's default.
const DefaultMaxInflight = 64

// Options configures Serve.
type Options struct {
	// MaxInflight bounds the requests being handled at once
	// (DefaultMaxInflight if 0); the next wait in the connection.
	MaxInflight int
	// MaxMessage is the largest message accepted, and the largest msize
	// (p9.DefaultMaxMessage if 0).
	MaxMessage int
	// Logf, if not nil, receives diagnostics, and with Debug every
	// message.
	Logf  func(format string, args ...any)
	Debug bool
}

// Serve answers the 9P requests arriving on c with the files of a until c
// fails or is closed (it returns nil when the peer closed it), then
// closes c. The requests in flight are finished first.
func Serve(c Conn, a hp9.Attacher, opts Options) error {
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = DefaultMaxInflight
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = p9.DefaultMaxMessage
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	ad := newAdapter(c, opts)
	var sopts []hp9.ServerOpt
	if opts.Debug {
		sopts = append(sopts, hp9.WithServerLogger(logger(opts.Logf)))
	}
	hp9.NewServer(a, sopts...).Handle(ad, ad)
	c.Close()
	return ad.readErr
}

type logger func(format string, args ...any)

func (l logger) Printf(format string, args ...any) { l(format, args...) }

// adapter is the byte stream hugelgupf/p9's server reads requests from
// (Read) and writes replies to (Write).
type adapter struct {
	c      Conn
	opts   Options
	logf   func(string, ...any)
	sem    chan struct{} // one token per request in flight
	done   chan struct{} // closed by Close
	once   sync.Once
	bufs   sync.Pool
	maxMsg uint32

	// Read side; the library serializes its reads.
	cur     p9.Message
	off     int
	readErr error

	mu       sync.Mutex
	cond     *sync.Cond // inflight changed, or closed
	inflight map[uint16]*request
	seq      uint64
	msize    uint32 // the library's msize
	barrier  bool   // a Tversion is in flight
	closing  bool

	wmu sync.Mutex // Write
	out []byte
}

type request struct {
	msg     p9.Message
	buf     *[]byte
	seq     uint64
	version bool
}

func newAdapter(c Conn, opts Options) *adapter {
	a := &adapter{
		c:        c,
		opts:     opts,
		logf:     opts.Logf,
		sem:      make(chan struct{}, opts.MaxInflight),
		done:     make(chan struct{}),
		maxMsg:   uint32(opts.MaxMessage),
		inflight: make(map[uint16]*request),
		msize:    uint32(opts.MaxMessage),
	}
	a.cond = sync.NewCond(&a.mu)
	a.bufs.New = func() any {
		b := make([]byte, a.maxMsg+1) // +1: a longer message shows as truncated
		return &b
	}
	return a
}

// Read implements io.Reader: the bytes of the current request, then of
// the next one.
func (a *adapter) Read(p []byte) (int, error) {
	for a.off >= len(a.cur) {
		a.cur, a.off = nil, 0
		m, err := a.next()
		if err != nil {
			return 0, err
		}
		a.cur = m
	}
	n := copy(p, a.cur[a.off:])
	a.off += n
	return n, nil
}

// next waits for room, receives the next acceptable request and records
// it in flight.
func (a *adapter) next() (p9.Message, error) {
	select {
	case a.sem <- struct{}{}:
	case <-a.done:
		return nil, io.EOF
	}
	for {
		b := a.bufs.Get().(*[]byte)
		n, err := a.c.ReadMessage(*b)
		if err != nil {
			a.bufs.Put(b)
			<-a.sem
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				a.readErr = err
			}
			return nil, io.EOF
		}
		m := p9.Message((*b)[:n])
		ok, rej := a.accept(m, b)
		if ok {
			return m, nil
		}
		a.bufs.Put(b)
		if rej != nil {
			a.reply(rej)
		}
		select {
		case <-a.done:
			<-a.sem
			return nil, io.EOF
		default:
		}
	}
}

// accept checks m and records it in flight. Otherwise it reports false,
// with the error reply to send if m has a usable tag.
func (a *adapter) accept(m p9.Message, b *[]byte) (ok bool, reject []byte) {
	if len(m) < p9.HeaderSize {
		a.logf("9p: dropped a %d-byte message (no header)", len(m))
		return false, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.barrier && !a.closing {
		a.cond.Wait() // a Tversion is being handled: nothing else until its reply
	}
	if a.closing {
		return false, nil
	}
	tag, typ := m.Tag(), m.Type()
	refuse := func(errno unix.Errno, why string) (bool, []byte) {
		a.logf("9p: refused a request (type %d, tag %d): %s", typ, tag, why)
		return false, p9.AppendRlerror(nil, tag, uint32(errno))
	}
	if _, busy := a.inflight[tag]; busy {
		a.logf("9p: dropped a request (type %d) with tag %d, which is in flight", typ, tag)
		return false, nil
	}
	switch {
	case m.Size() != uint32(len(m)):
		return refuse(unix.EINVAL, fmt.Sprintf("size field %d in a %d-byte message", m.Size(), len(m)))
	case m.Size() > a.msize:
		return refuse(unix.EMSGSIZE, fmt.Sprintf("%d bytes, msize is %d", m.Size(), a.msize))
	case tag == p9.NoTag && typ != p9.Tversion:
		return refuse(unix.EINVAL, "NOTAG on a request other than Tversion")
	}
	r := &request{msg: m, buf: b, seq: a.seq, version: typ == p9.Tversion}
	a.seq++
	if r.version {
		// Nothing after it until its reply, which tells the new msize.
		// (What came before was checked against the old msize, and so
		// was the library's check: it reads a message only after the
		// previous one.)
		a.barrier = true
	}
	a.inflight[tag] = r
	if a.opts.Debug {
		a.logf("9p: request type %d tag %d, %d bytes", typ, tag, len(m))
	}
	return true, nil
}

// reply sends a message the adapter builds itself.
func (a *adapter) reply(msg []byte) {
	if err := a.c.WriteMessage(msg); err != nil {
		a.logf("9p: sending a reply: %v", err)
	}
}

// Write implements io.Writer: the library writes each reply in a few
// pieces (holding its send lock), Write cuts them into messages.
func (a *adapter) Write(p []byte) (int, error) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.out = append(a.out, p...)
	for len(a.out) >= 4 {
		size := int(p9.Message(a.out[:4:4]).U32(0))
		if size < p9.HeaderSize {
			a.logf("9p: the library wrote a %d-byte message; dropped", size)
			a.out = a.out[:0]
			break
		}
		if size > len(a.out) {
			break
		}
		a.emit(p9.Message(a.out[:size]))
		a.out = append(a.out[:0], a.out[size:]...)
	}
	return len(p), nil
}

// emit sends one reply and retires its request.
func (a *adapter) emit(m p9.Message) {
	tag := m.Tag()
	if tag == p9.NoTag && m.Type() == p9.Rlerror {
		tag = a.attribute()
		m.SetTag(tag)
	}
	a.mu.Lock()
	r, ok := a.inflight[tag]
	if ok {
		delete(a.inflight, tag)
		if m.Type() == p9.Rversion && m.Has(p9.OffMsize, 4) && m.U32(p9.OffMsize) != 0 {
			// (0 with version "unknown": the library's msize is unchanged.)
			a.msize = min(m.U32(p9.OffMsize), a.maxMsg)
		}
		if r.version {
			a.barrier = false
		}
		a.cond.Broadcast()
	}
	a.mu.Unlock()
	if !ok {
		a.logf("9p: the library answered tag %d, which is not in flight; dropped", tag)
		return
	}
	a.reply(m)
	a.bufs.Put(r.buf)
	<-a.sem
}

// attribute finds the request an Rlerror tagged NOTAG answers: the
// library could not decode it. It is the oldest request in flight that a
// scratch server cannot decode either; failing that, a Tversion sent with
// NOTAG.
func (a *adapter) attribute() uint16 {
	a.mu.Lock()
	reqs := make([]*request, 0, len(a.inflight))
	tags := make(map[*request]uint16, len(a.inflight))
	for t, r := range a.inflight {
		reqs = append(reqs, r)
		tags[r] = t
	}
	a.mu.Unlock()
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].seq < reqs[j].seq })
	for _, r := range reqs {
		if tags[r] != p9.NoTag && undecodable(r.msg) {
			return tags[r]
		}
	}
	return p9.NoTag
}

// Close implements io.Closer (the library closes both directions).
func (a *adapter) Close() error {
	a.once.Do(func() {
		close(a.done)
		a.mu.Lock()
		a.closing = true
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	return nil
}

// undecodable reports whether hugelgupf/p9's server fails to decode m: it
// gives m to a server of its own, which has no files, and looks at the
// reply's tag.
func undecodable(m p9.Message) bool {
	tr, tw := io.Pipe()
	rr, rw := io.Pipe()
	go hp9.NewServer(noFiles{}).Handle(tr, rw)
	defer tw.Close()
	defer rr.Close()
	go tw.Write(m)
	got := make(chan bool, 1)
	go func() {
		var h [p9.HeaderSize]byte
		_, err := io.ReadFull(rr, h[:])
		got <- err == nil && p9.Message(h[:]).Tag() == p9.NoTag && p9.Message(h[:]).Type() == p9.Rlerror
		io.Copy(io.Discard, rr)
	}()
	select {
	case v := <-got:
		return v
	case <-time.After(5 * time.Second):
		return false
	}
}

// noFiles is an Attacher that refuses to attach: a server with it touches
// nothing.
type noFiles struct{}

func (noFiles) Attach() (hp9.File, error) { return nil, linux.EPERM }
