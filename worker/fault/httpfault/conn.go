package httpfault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

const (
	// bufSize bounds one head line; 16 KiB fits what common servers accept (8 KiB lines)
	// with room, and lets a small response leave in one write.
	bufSize = 16 << 10
	// maxHead bounds a whole request or response head.
	maxHead = 64 << 10
)

type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyLength
	bodyChunked
	bodyUntilEOF // responses only: delimited by the upstream closing
	bodyTunnel   // 101 Switching Protocols, or CONNECT answered 2xx
)

var (
	errMalformed = errors.New("malformed HTTP message")
	errTooLarge  = errors.New("HTTP head too large")
	errVersion   = errors.New("unsupported HTTP version")
)

// conn serves one client connection. All its state is owned by its goroutine; the
// buffers and the random source are reused for every request, so the fault-free request
// path allocates nothing.
type conn struct {
	p      *Proxy
	c      net.Conn
	cr     *bufio.Reader
	cw     *bufio.Writer
	u      net.Conn // guarded by p.mu while it changes, so Close can reach it
	ur     *bufio.Reader
	uw     *bufio.Writer
	req    []byte // raw request head, forwarded as read (minus Expect)
	resp   []byte // raw response head
	rng    rand.PCG
	timer  *time.Timer
	reused bool // u has carried a request already
}

type message struct {
	body    bodyKind
	length  int64
	close   bool // the connection ends after this exchange
	isHead  bool // request method HEAD
	connect bool // request method CONNECT
	expect  bool // request carried Expect: 100-continue (stripped, answered by the proxy)
	status  int  // responses
}

func newConn(p *Proxy, nc net.Conn) *conn {
	c := &conn{
		p:    p,
		c:    nc,
		cr:   bufio.NewReaderSize(nc, bufSize),
		cw:   bufio.NewWriterSize(nc, bufSize),
		req:  make([]byte, 0, 1024),
		resp: make([]byte, 0, 1024),
	}
	// Each connection owns its generator: no lock and no shared cache line on the
	// request path, unlike the global math/rand source.
	c.rng.Seed(rand.Uint64(), rand.Uint64())
	return c
}

func (c *conn) serve() {
	defer c.p.wg.Done()
	defer c.finish()
	for {
		req, err := c.readRequestHead()
		if err != nil {
			switch {
			case errors.Is(err, errTooLarge):
				c.reply(431, "request head too large")
			case errors.Is(err, errVersion):
				c.reply(505, "only HTTP/1.0 and HTTP/1.1 are proxied")
			case errors.Is(err, errMalformed):
				c.reply(400, "malformed request")
			}
			return
		}
		c.p.requests.Add(1)
		if rs := c.p.rules.Load(); rs != nil {
			keep, done := c.applyFaults(rs, &req)
			if !keep {
				return
			}
			if done {
				continue
			}
		}
		if !c.exchange(&req) {
			return
		}
	}
}

// applyFaults delays and possibly aborts the request. keep is false when the connection
// must end; done is true when the request was answered by the proxy.
func (c *conn) applyFaults(rs *ruleSet, req *message) (keep, done bool) {
	var d time.Duration
	for i := range rs.delays {
		r := &rs.delays[i]
		if r.hit(&c.rng) {
			d += r.delay
			if r.jitter > 0 {
				d += time.Duration(int64(c.rng.Uint64()%uint64(2*r.jitter+1)) - r.jitter)
			}
		}
	}
	if d > 0 {
		c.p.delayed.Add(1)
		if !c.sleep(d) {
			return false, false
		}
	}
	for i := range rs.aborts {
		r := &rs.aborts[i]
		if !r.hit(&c.rng) {
			continue
		}
		c.p.aborted.Add(1)
		// A client waiting for 100 Continue will not send its body; anything else's body
		// is read and dropped so the connection stays usable.
		closing := req.close || req.expect
		if !closing && req.body != bodyNone {
			if err := c.copyBody(nil, c.cr, req.body, req.length); err != nil {
				return false, false
			}
		}
		resp := r.keepAlive
		if closing {
			resp = r.closing
		}
		if _, err := c.cw.Write(resp); err != nil {
			return false, false
		}
		if err := c.cw.Flush(); err != nil {
			return false, false
		}
		return !closing, true
	}
	return true, false
}

func (c *conn) sleep(d time.Duration) bool {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return true
	case <-c.p.ctx.Done():
		c.timer.Stop()
		return false
	}
}

// exchange forwards one request and its response. It returns false when the client
// connection must end.
func (c *conn) exchange(req *message) bool {
	if req.expect {
		// The Expect header was stripped, so the upstream never sends 100 Continue; the
		// proxy sends it because it is about to read the body anyway.
		if _, err := c.cw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return false
		}
		if err := c.cw.Flush(); err != nil {
			return false
		}
	}
	for attempt := 0; ; attempt++ {
		if c.u == nil {
			if err := c.dial(); err != nil {
				c.p.log.Debug("proxy dial upstream", "err", err)
				c.reply(502, "upstream unreachable")
				return false
			}
		}
		// An idle upstream connection may have been closed by the upstream; a bodyless
		// request is safe to send once more on a fresh connection.
		retriable := c.reused && req.body == bodyNone && attempt == 0
		c.reused = true
		_, err := c.uw.Write(c.req)
		if err == nil {
			err = c.copyBody(c.uw, c.cr, req.body, req.length)
		}
		if err == nil {
			err = c.uw.Flush()
		}
		if err != nil {
			if retriable {
				c.dropUpstream()
				continue
			}
			c.reply(502, "upstream write failed")
			return false
		}
		resp, err := c.readResponseHead(req)
		if err != nil {
			if retriable && len(c.resp) == 0 && (errors.Is(err, io.EOF) || isReset(err)) {
				c.dropUpstream()
				continue
			}
			c.reply(502, "bad upstream response")
			return false
		}
		return c.forwardResponse(req, resp)
	}
}

func (c *conn) forwardResponse(req *message, resp message) bool {
	for {
		if _, err := c.cw.Write(c.resp); err != nil {
			return false
		}
		if resp.status >= 200 || resp.status == 101 {
			break
		}
		// Interim 1xx responses go to the client as they come; the final one follows.
		if err := c.cw.Flush(); err != nil {
			return false
		}
		var err error
		if resp, err = c.readResponseHead(req); err != nil {
			return false
		}
	}
	if resp.body == bodyTunnel {
		c.tunnel()
		return false
	}
	if err := c.copyBody(c.cw, c.ur, resp.body, resp.length); err != nil {
		return false
	}
	if err := c.cw.Flush(); err != nil {
		return false
	}
	if resp.close {
		// The client was told the same thing by the forwarded head.
		return false
	}
	return !req.close
}

// tunnel copies raw bytes both ways after a protocol switch, until either side closes.
func (c *conn) tunnel() {
	if c.cw.Flush() != nil || c.uw.Flush() != nil {
		return
	}
	u := c.u
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(u, c.cr)
		u.Close()
		c.c.Close()
	}()
	io.Copy(c.c, c.ur)
	c.c.Close()
	u.Close()
	<-done
}

func (c *conn) dial() error {
	d := net.Dialer{Timeout: 5 * time.Second}
	u, err := d.DialContext(c.p.ctx, "tcp", c.p.upstream)
	if err != nil {
		return fmt.Errorf("dial upstream %s: %w", c.p.upstream, err)
	}
	c.p.mu.Lock()
	if c.p.closed {
		c.p.mu.Unlock()
		u.Close()
		return errors.New("proxy closed")
	}
	c.u = u
	c.p.mu.Unlock()
	if c.ur == nil {
		c.ur = bufio.NewReaderSize(u, bufSize)
		c.uw = bufio.NewWriterSize(u, bufSize)
	} else {
		c.ur.Reset(u)
		c.uw.Reset(u)
	}
	c.reused = false
	return nil
}

func (c *conn) dropUpstream() {
	c.p.mu.Lock()
	if c.u != nil {
		c.u.Close()
		c.u = nil
	}
	c.p.mu.Unlock()
}

func (c *conn) finish() {
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
	c.dropUpstream()
	c.c.Close()
	if c.timer != nil {
		c.timer.Stop()
	}
}

// reply answers the client from the proxy itself and ends the connection.
func (c *conn) reply(status int, msg string) {
	body := "murphy proxy: " + msg + "\n"
	fmt.Fprintf(c.cw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, statusText(status), len(body), body)
	c.cw.Flush()
}

func (c *conn) readRequestHead() (message, error) {
	var m message
	c.req = c.req[:0]
	var line []byte
	var err error
	for {
		// RFC 9112 section 2.2: ignore empty lines before a request line.
		if line, err = readLine(c.cr); err != nil {
			return m, err
		}
		if !isBlank(line) {
			break
		}
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return m, errMalformed
	}
	method := line[:sp]
	rl := trimCRLF(line)
	if len(rl) < sp+10 {
		return m, errMalformed
	}
	http10 := false
	switch ver := rl[len(rl)-8:]; {
	case string(ver) == "HTTP/1.1":
	case string(ver) == "HTTP/1.0":
		http10 = true
	case bytes.HasPrefix(ver, []byte("HTTP/")):
		return m, errVersion
	default:
		return m, errMalformed
	}
	m.isHead = string(method) == "HEAD"
	m.connect = string(method) == "CONNECT"
	c.req = append(c.req, line...)
	var keepAlive, sawLength, sawChunked bool
	for {
		if line, err = readLine(c.cr); err != nil {
			if err == io.EOF {
				err = errMalformed
			}
			return m, err
		}
		if len(c.req)+len(line) > maxHead {
			return m, errTooLarge
		}
		if isBlank(line) {
			c.req = append(c.req, line...)
			break
		}
		name, val, ok := splitHeader(line)
		if !ok {
			return m, errMalformed
		}
		keep := true
		switch {
		case equalLower(name, "content-length"):
			n, ok := parseLength(val)
			if !ok || sawLength && n != m.length {
				return m, errMalformed
			}
			sawLength, m.length = true, n
		case equalLower(name, "transfer-encoding"):
			if !hasChunkedLast(val) {
				// Only chunked can delimit a request body (RFC 9112 section 6.3).
				return m, errMalformed
			}
			sawChunked = true
		case equalLower(name, "connection"):
			cl, ka, _ := connectionTokens(val)
			m.close = m.close || cl
			keepAlive = keepAlive || ka
		case equalLower(name, "expect"):
			if equalLower(val, "100-continue") {
				m.expect, keep = true, false
			}
		}
		if keep {
			c.req = append(c.req, line...)
		}
	}
	switch {
	case sawLength && sawChunked:
		// Both framings at once is the classic request-smuggling shape: refuse it.
		return m, errMalformed
	case sawChunked:
		m.body = bodyChunked
	case sawLength && m.length > 0:
		m.body = bodyLength
	}
	if http10 && !keepAlive {
		m.close = true
	}
	return m, nil
}

func (c *conn) readResponseHead(req *message) (message, error) {
	var m message
	c.resp = c.resp[:0]
	line, err := readLine(c.ur)
	if err != nil {
		return m, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return m, errMalformed
	}
	http10 := line[7] == '0'
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return m, errMalformed
		}
		m.status = m.status*10 + int(d-'0')
	}
	c.resp = append(c.resp, line...)
	var keepAlive, sawLength, sawTE, chunked bool
	for {
		if line, err = readLine(c.ur); err != nil {
			if err == io.EOF {
				err = errMalformed
			}
			return m, err
		}
		if len(c.resp)+len(line) > maxHead {
			return m, errTooLarge
		}
		c.resp = append(c.resp, line...)
		if isBlank(line) {
			break
		}
		name, val, ok := splitHeader(line)
		if !ok {
			continue // forwarded verbatim; framing headers are never folded
		}
		switch {
		case equalLower(name, "content-length"):
			n, ok := parseLength(val)
			if !ok || sawLength && n != m.length {
				return m, errMalformed
			}
			sawLength, m.length = true, n
		case equalLower(name, "transfer-encoding"):
			sawTE, chunked = true, hasChunkedLast(val)
		case equalLower(name, "connection"):
			cl, ka, _ := connectionTokens(val)
			m.close = m.close || cl
			keepAlive = keepAlive || ka
		}
	}
	// RFC 9112 section 6.3, in order.
	switch {
	case req.isHead || m.status < 200 && m.status != 101 || m.status == 204 || m.status == 304:
		m.body = bodyNone
	case m.status == 101 || req.connect && m.status < 300:
		m.body = bodyTunnel
	case sawTE && chunked:
		m.body = bodyChunked
	case sawTE:
		m.body = bodyUntilEOF
	case sawLength:
		m.body = bodyLength
		if m.length == 0 {
			m.body = bodyNone
		}
	default:
		m.body = bodyUntilEOF
	}
	if m.body == bodyUntilEOF || http10 && !keepAlive {
		m.close = true
	}
	return m, nil
}

// copyBody copies one message body from r to w (nil discards it), flushing w whenever r
// has to wait for the network, so streamed responses are not held back while small ones
// still leave in a single write.
func (c *conn) copyBody(w *bufio.Writer, r *bufio.Reader, kind bodyKind, n int64) error {
	switch kind {
	case bodyLength:
		return copyN(w, r, n)
	case bodyUntilEOF:
		if err := copyN(w, r, 1<<62); err != io.EOF {
			return err
		}
		return nil
	case bodyChunked:
		return copyChunked(w, r)
	}
	return nil
}

func copyN(w *bufio.Writer, r *bufio.Reader, n int64) error {
	for n > 0 {
		k := r.Buffered()
		if k == 0 {
			if w != nil {
				if err := w.Flush(); err != nil {
					return err
				}
			}
			if _, err := r.Peek(1); err != nil {
				return err
			}
			k = r.Buffered()
		}
		if int64(k) > n {
			k = int(n)
		}
		if w != nil {
			b, _ := r.Peek(k)
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		r.Discard(k)
		n -= int64(k)
	}
	return nil
}

func copyChunked(w *bufio.Writer, r *bufio.Reader) error {
	total := 0
	for {
		line, err := readLineFlush(w, r)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errMalformed
		}
		if err := write(w, line); err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := copyN(w, r, size); err != nil {
			return err
		}
		if line, err = readLineFlush(w, r); err != nil {
			return err
		}
		if !isBlank(line) {
			return errMalformed
		}
		if err := write(w, line); err != nil {
			return err
		}
	}
	for { // trailer section, ended by a blank line
		line, err := readLineFlush(w, r)
		if err != nil {
			return err
		}
		if total += len(line); total > maxHead {
			return errTooLarge
		}
		if err := write(w, line); err != nil {
			return err
		}
		if isBlank(line) {
			return nil
		}
	}
}

func write(w *bufio.Writer, b []byte) error {
	if w == nil {
		return nil
	}
	_, err := w.Write(b)
	return err
}

// readLineFlush flushes w first if the line is not yet fully buffered, so a slow stream's
// earlier chunks reach the client before the proxy waits.
func readLineFlush(w *bufio.Writer, r *bufio.Reader) ([]byte, error) {
	if w != nil && w.Buffered() > 0 {
		if b, _ := r.Peek(r.Buffered()); bytes.IndexByte(b, '\n') < 0 {
			if err := w.Flush(); err != nil {
				return nil, err
			}
		}
	}
	return readLine(r)
}

// readLine returns the next line including its terminator; valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errTooLarge
	}
	if err == io.EOF && len(line) > 0 {
		err = io.ErrUnexpectedEOF
	}
	return line, err
}

func isBlank(line []byte) bool {
	return len(line) == 2 && line[0] == '\r' || len(line) == 1
}

func trimCRLF(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// splitHeader splits "Name: value". A folded line, or whitespace before the colon, is
// rejected as RFC 9112 section 5 requires.
func splitHeader(line []byte) (name, val []byte, ok bool) {
	if line[0] == ' ' || line[0] == '\t' {
		return nil, nil, false
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || line[colon-1] == ' ' || line[colon-1] == '\t' {
		return nil, nil, false
	}
	return line[:colon], trimOWS(trimCRLF(line[colon+1:])), true
}

// equalLower reports whether b equals lower (all lower-case ASCII) ignoring case.
func equalLower(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	digits := 0
	for _, d := range line {
		var v byte
		switch {
		case '0' <= d && d <= '9':
			v = d - '0'
		case 'a' <= d && d <= 'f':
			v = d - 'a' + 10
		case 'A' <= d && d <= 'F':
			v = d - 'A' + 10
		default:
			if digits == 0 || (d != ';' && d != ' ' && d != '\t' && d != '\r' && d != '\n') {
				return 0, false
			}
			return n, true
		}
		if digits++; digits > 15 {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	return 0, false
}

// hasChunkedLast reports whether the last transfer coding is chunked.
func hasChunkedLast(val []byte) bool {
	if i := bytes.LastIndexByte(val, ','); i >= 0 {
		val = val[i+1:]
	}
	return equalLower(trimOWS(val), "chunked")
}

func connectionTokens(val []byte) (closing, keepAlive, upgrade bool) {
	for len(val) > 0 {
		tok := val
		if i := bytes.IndexByte(val, ','); i >= 0 {
			tok, val = val[:i], val[i+1:]
		} else {
			val = nil
		}
		tok = trimOWS(tok)
		switch {
		case equalLower(tok, "close"):
			closing = true
		case equalLower(tok, "keep-alive"):
			keepAlive = true
		case equalLower(tok, "upgrade"):
			upgrade = true
		}
	}
	return
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
