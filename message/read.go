package message

import (
	"bufio"
	"bytes"
	"io"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Options says how to read the input.
type Options struct {
	// IgnoreDots is -i / -oi: a line holding a single "." is data. Without
	// it such a line ends the input, as in every sendmail.
	IgnoreDots bool
	// MaxHeaderBytes bounds the header kept in memory; default 1 MiB.
	MaxHeaderBytes int
}

// DefaultMaxHeaderBytes is the header size accepted when Options leaves it 0.
const DefaultMaxHeaderBytes = 1 << 20

// MaxHeaderLine bounds one physical header line. RFC 5322 says 998
// characters; real mail breaks that, servers take a few KiB; beyond 64 KiB
// a line is not mail.
const MaxHeaderLine = 64 << 10

// MaxBodyLine is SMTP's line length (RFC 5321: 1000 with CRLF).
const MaxBodyLine = 998

// Error is a message we will not send; the caller exits 65 (EX_DATAERR).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Message is a parsed header and a body still streaming from the input.
type Message struct {
	Header mail.Header
	body   *lineReader
	first  []byte // a line read while looking for the header's end that belongs to the body
	has8   bool   // 8-bit bytes seen (header now, body once written)
}

// Read parses the header from r and leaves the body streaming. It accepts
// what sendmail's callers produce: LF, CRLF or bare CR line endings (mixed),
// an mbox "From " first line, no header/body separator, no final newline;
// a first line that is not a header field makes the whole input the body,
// and a later line that is not one ends the header there, as Postfix does.
func Read(r io.Reader, opts Options) (*Message, error) {
	max := opts.MaxHeaderBytes
	if max <= 0 {
		max = DefaultMaxHeaderBytes
	}
	lr := newLineReader(r, !opts.IgnoreDots)
	m := &Message{body: lr}
	var hdr bytes.Buffer
	first := true
	for {
		limit, lineLimited := max-hdr.Len(), false
		if limit > MaxHeaderLine {
			limit, lineLimited = MaxHeaderLine, true
		}
		line, err := lr.fullLine(limit)
		if err == errTooLong && lineLimited {
			return nil, &Error{Msg: "a header line is longer than " + sizeString(MaxHeaderLine) + ": no server takes that; check what produced the message"}
		}
		if err == errTooLong {
			return nil, &Error{Msg: "message header is larger than " + sizeString(max) + ": a header that big is not mail; check what produced it"}
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if line == nil { // end of input
			break
		}
		if first && bytes.HasPrefix(line, []byte("From ")) {
			first = false
			continue // mbox separator, not a header field
		}
		if len(line) == 0 {
			break // the header/body separator, consumed
		}
		if line[0] == ' ' || line[0] == '\t' {
			if hdr.Len() == 0 {
				m.first = line
				break
			}
			hdr.Write(line)
			hdr.WriteString("\r\n")
			continue
		}
		if !isField(line) {
			// Not a header: the body starts here.
			m.first = line
			break
		}
		first = false
		hdr.Write(line)
		hdr.WriteString("\r\n")
		if err == io.EOF {
			break
		}
	}
	lr.inHeader = false
	hdr.WriteString("\r\n")
	if bytes.IndexByte(hdr.Bytes(), 0) >= 0 {
		return nil, &Error{Msg: "the message header contains a NUL byte: check what produced the message"}
	}
	for _, b := range hdr.Bytes() {
		if b >= 0x80 {
			m.has8 = true
			break
		}
	}
	h, err := textproto.ReadHeader(bufio.NewReader(&hdr))
	if err != nil {
		return nil, &Error{Msg: "message header: " + err.Error()}
	}
	m.Header = mail.Header{Header: message.Header{Header: h}}
	return m, nil
}

// isField reports whether line starts a header field: a name of printable
// characters other than ':' and space, then a colon.
func isField(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func sizeString(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// WriteTo writes the header and the streamed body with CRLF line endings
// and returns the bytes written. It can be called once.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64*1024)
	cw := &countWriter{w: bw}
	if err := textproto.WriteHeader(cw, m.Header.Header.Header); err != nil {
		return cw.n, err
	}
	if m.first != nil {
		cw.check8(m.first)
		cw.Write(m.first)
		cw.Write(crlf)
	}
	if !m.body.done {
		lineLen := 0
		for {
			chunk, eol, err := m.body.next()
			for len(chunk) > 0 {
				// SMTP allows 998 characters a line: break longer body
				// lines, as Postfix does, rather than have the server
				// refuse the message.
				n := min(len(chunk), MaxBodyLine-lineLen)
				cw.check8(chunk[:n])
				if _, werr := cw.Write(chunk[:n]); werr != nil {
					return cw.n, werr
				}
				lineLen += n
				chunk = chunk[n:]
				if lineLen == MaxBodyLine && (len(chunk) > 0 || !eol) {
					cw.Write(crlf)
					lineLen = 0
				}
			}
			if eol {
				cw.Write(crlf)
				lineLen = 0
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return cw.n, err
			}
		}
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	m.has8 = m.has8 || cw.has8
	return cw.n, bw.Flush()
}

var crlf = []byte("\r\n")

type countWriter struct {
	w    io.Writer
	n    int64
	err  error
	has8 bool
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) check8(p []byte) {
	if c.has8 {
		return
	}
	for _, b := range p {
		if b >= 0x80 {
			c.has8 = true
			return
		}
	}
}

// EightBit reports whether the message has bytes above 127 (complete only
// after WriteTo): it then goes with BODY=8BITMIME.
func (m *Message) EightBit() bool { return m.has8 }
