package httpfault

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzHTTPRequest feeds arbitrary bytes to the proxy's request parser, which faces
// production traffic: it must never panic, never read past its head limit, and what it
// accepts must be one complete head with one unambiguous framing (a Content-Length and a
// chunked Transfer-Encoding together is the request-smuggling shape it must refuse).
func FuzzHTTPRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"PUT / HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{cr: bufio.NewReaderSize(bytes.NewReader(data), bufSize), req: make([]byte, 0, 1024)}
		for range 4 { // a few pipelined requests, as a kept-alive connection reads them
			m, err := c.readRequestHead()
			if err != nil {
				return
			}
			if len(c.req) > maxHead+bufSize {
				t.Fatalf("accepted a head of %d bytes, limit %d", len(c.req), maxHead)
			}
			if !bytes.HasSuffix(c.req, []byte("\n")) || !isBlank(lastLine(c.req)) {
				t.Fatalf("accepted a head that does not end with a blank line: %q", c.req)
			}
			head := strings.ToLower(string(c.req))
			if strings.Contains(head, "\ncontent-length:") && strings.Contains(head, "\ntransfer-encoding:") {
				t.Fatalf("accepted both framings: %q", c.req)
			}
			if m.body == bodyLength && m.length <= 0 || m.length < 0 {
				t.Fatalf("body length %d with framing %d", m.length, m.body)
			}
			// Skip the body as the proxy would, so the next head starts where it should.
			switch m.body {
			case bodyLength:
				if _, err := c.cr.Discard(int(min(m.length, 1<<20))); err != nil {
					return
				}
			case bodyChunked:
				if err := copyChunked(bufio.NewWriter(&bytes.Buffer{}), c.cr); err != nil {
					return
				}
			}
		}
	})
}

// lastLine is the last line of b, newline included.
func lastLine(b []byte) []byte {
	end := len(b) - 1
	i := bytes.LastIndexByte(b[:end], '\n')
	return b[i+1:]
}
