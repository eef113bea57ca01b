package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The load generator speaks HTTP/1.1 itself, one keep-alive connection per
// worker, written and read by the worker's own goroutine. net/http's client
// runs two more goroutines per connection and hands every request and
// answer between them; on a 2-core machine that the generator shares with
// the server, that cost (about 35 µs of CPU per request, measured) is CPU
// the server does not get. The subset spoken here is what the platform and
// the baseline answer with: a status line, header lines, and a body framed
// by Content-Length, chunked encoding or the end of the connection.

// requestTimeout bounds one request from its first byte written to the last
// byte of its answer read; an answer that takes longer is a failure worth
// counting, not waiting for.
const requestTimeout = 60 * time.Second

// maxLine is the longest status or header line accepted.
const maxLine = 16 << 10

// errorBodyLimit is how much of a non-2xx answer's body is kept to name the
// error.
const errorBodyLimit = 4096

// okBodyLimit is how much of a 2xx answer's body is kept for a request
// whose op checks it (a search result page); more is an error.
const okBodyLimit = 4 << 20

var (
	// errProtocol is an answer this client cannot read as HTTP/1.1.
	errProtocol = errors.New("malformed HTTP response")
	// errNothingRead is a connection that failed before the first byte of
	// the answer: the request may not have reached the server.
	errNothingRead = errors.New("no answer")
	// errBodyTooLarge is a 2xx body to be kept that exceeds okBodyLimit.
	errBodyTooLarge = errors.New("answer body too large to check")
)

// conn is one keep-alive connection and its buffers.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	wbuf []byte
	// used is set once an answer was read: a request on a reused connection
	// that fails before any byte of its answer may have met the server's
	// close of an idle connection, and is sent once more on a new one.
	used bool
	// unwatch stops closing the connection when the run's context ends.
	unwatch func() bool
}

// dial opens a connection to t. It is closed when ctx ends, which ends a
// request blocked on it.
func (t *target) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, maxLine)}
	c.unwatch = context.AfterFunc(ctx, func() { nc.Close() })
	return c, nil
}

func (c *conn) close() {
	c.unwatch()
	c.nc.Close()
}

// roundTrip sends one request and reads its whole answer. header is extra
// header lines, each ending in CRLF ("" for none). It returns the status,
// up to errorBodyLimit bytes of the body of a non-2xx answer, and whether
// the connection can carry another request. When okBody is not nil, the
// body of a 2xx answer replaces its contents.
func (c *conn) roundTrip(t *target, method, path, header string, body []byte, okBody *[]byte) (status int, errBody []byte, keep bool, err error) {
	b := append(c.wbuf[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\n"...)
	b = append(b, header...)
	b = append(b, "Authorization: "...)
	b = append(b, t.auth...)
	if body != nil {
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.wbuf = b
	if err := c.nc.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, nil, false, err
	}
	if _, err := c.nc.Write(b); err != nil {
		return 0, nil, false, fmt.Errorf("%w: %w", errNothingRead, err)
	}
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, false, fmt.Errorf("%w: %w", errNothingRead, err)
	}
	return readResponse(c.br, method == "HEAD", okBody)
}

// readResponse reads one answer from br; noBody is set for the answer to a
// HEAD request. The body of a 2xx answer is discarded, or, when okBody is
// not nil, replaces its contents (up to okBodyLimit bytes).
func readResponse(br *bufio.Reader, noBody bool, okBody *[]byte) (status int, errBody []byte, keep bool, err error) {
	var length int64
	var chunked bool
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, nil, false, fmt.Errorf("%w: status line %q", errProtocol, clip(line))
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil || status < 100 || len(line) > 12 && line[12] != ' ' {
			return 0, nil, false, fmt.Errorf("%w: status line %q", errProtocol, clip(line))
		}
		keep = line[7] == '1' // HTTP/1.0 closes unless told otherwise
		length, chunked = -1, false
		for {
			h, err := readLine(br)
			if err != nil {
				return 0, nil, false, err
			}
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				return 0, nil, false, fmt.Errorf("%w: header line %q", errProtocol, clip(h))
			}
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 {
					return 0, nil, false, fmt.Errorf("%w: Content-Length %q", errProtocol, clip(value))
				}
				length = n
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				chunked = bytes.EqualFold(value, []byte("chunked"))
				if !chunked {
					return 0, nil, false, fmt.Errorf("%w: Transfer-Encoding %q", errProtocol, clip(value))
				}
			case bytes.EqualFold(name, []byte("Connection")):
				if bytes.EqualFold(value, []byte("close")) {
					keep = false
				} else if bytes.EqualFold(value, []byte("keep-alive")) {
					keep = true
				}
			}
		}
		// An interim answer (100 Continue and the like) precedes the real one.
		if status >= 200 || status == 101 {
			break
		}
	}
	var keepBody *[]byte
	limit := errorBodyLimit
	switch {
	case status/100 != 2:
		errBody = make([]byte, 0, 256)
		keepBody = &errBody
	case okBody != nil:
		*okBody = (*okBody)[:0]
		keepBody, limit = okBody, okBodyLimit
	}
	switch {
	case noBody || status == 204 || status == 304:
	case chunked:
		err = readChunked(br, keepBody, limit)
	case length >= 0:
		err = readBody(br, length, keepBody, limit)
	default:
		// Framed by the end of the connection.
		keep = false
		err = readBody(br, -1, keepBody, limit)
	}
	if err == nil && keepBody == okBody && okBody != nil && len(*okBody) >= okBodyLimit {
		err = errBodyTooLarge
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, errBody, keep, nil
}

// readLine returns the next line without its CRLF (or LF). The slice is
// valid until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", errProtocol, maxLine)
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readBody consumes n bytes of body (n < 0: up to the end of the
// connection), appending up to limit of them to *keep when keep is not nil.
func readBody(br *bufio.Reader, n int64, keep *[]byte, limit int) error {
	for n != 0 {
		// Peek(1) fills the buffer when it is empty.
		if _, err := br.Peek(1); err != nil {
			if n < 0 && errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		chunk, _ := br.Peek(br.Buffered())
		if n >= 0 && int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		if keep != nil && len(*keep) < limit {
			*keep = append(*keep, chunk[:min(len(chunk), limit-len(*keep))]...)
		}
		if _, err := br.Discard(len(chunk)); err != nil {
			return err
		}
		if n > 0 {
			n -= int64(len(chunk))
		}
	}
	return nil
}

// readChunked consumes a chunked body and its trailer, keeping up to limit
// bytes of it as readBody does.
func readChunked(br *bufio.Reader, keep *[]byte, limit int) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", errProtocol, clip(line))
		}
		if size == 0 {
			break
		}
		if err := readBody(br, size, keep, limit); err != nil {
			return err
		}
		if crlf, err := readLine(br); err != nil || len(crlf) != 0 {
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: no line end after a chunk", errProtocol)
		}
	}
	for { // trailer
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// clip bounds an echoed piece of a broken answer.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
