package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

var errTooLong = errors.New("line too long")

// lineReader splits the input into lines whatever their ending (LF, CRLF
// or a bare CR), without holding more than its buffer in memory: a long
// line comes out in pieces. With dotEnds, a line holding only "." ends the
// input.
type lineReader struct {
	br          *bufio.Reader
	dotEnds     bool
	atLineStart bool
	done        bool
	skipLF      bool // the last line ended in CR: an LF right after it belongs to it
}

func newLineReader(r io.Reader, dotEnds bool) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64*1024), dotEnds: dotEnds, atLineStart: true}
}

// next returns the next piece of a line, valid until the next call; eol is
// true when the piece ends its line. At the end of the input it returns
// io.EOF, with eol set when the last line had no line ending of its own.
func (l *lineReader) next() (chunk []byte, eol bool, err error) {
	if l.done {
		return nil, false, io.EOF
	}
	if l.skipLF {
		// Done here rather than right after the CR: peeking then could
		// refill the buffer under the chunk just returned.
		l.skipLF = false
		if p, err := l.br.Peek(1); err == nil && p[0] == '\n' {
			l.br.Discard(1)
		}
	}
	if l.atLineStart {
		// Look at two bytes so that "." alone on a line is recognised.
		l.br.Peek(2)
	}
	if l.br.Buffered() == 0 {
		if _, err := l.br.Peek(1); err != nil {
			l.done = true
			if err != io.EOF {
				return nil, false, err
			}
			return nil, !l.atLineStart, io.EOF
		}
	}
	buf, _ := l.br.Peek(l.br.Buffered())
	i := bytes.IndexAny(buf, "\r\n")
	if i < 0 {
		if l.atLineStart && l.dotEnds && len(buf) == 1 && buf[0] == '.' {
			// A final "." without a line ending still ends the input.
			l.done = true
			return nil, false, io.EOF
		}
		l.br.Discard(len(buf))
		l.atLineStart = false
		return buf, false, nil
	}
	chunk = buf[:i]
	if l.atLineStart && l.dotEnds && len(chunk) == 1 && chunk[0] == '.' {
		l.done = true
		return nil, false, io.EOF
	}
	term := buf[i]
	l.br.Discard(i + 1)
	// CRLF, or a bare CR that ends a line all the same.
	l.skipLF = term == '\r'
	l.atLineStart = true
	return chunk, true, nil
}

// fullLine returns the next whole line (a copy, without its ending), or
// errTooLong once it exceeds limit bytes, or nil and io.EOF at the end.
func (l *lineReader) fullLine(limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, eol, err := l.next()
		if len(chunk) > 0 {
			if len(line)+len(chunk) > limit {
				return nil, errTooLong
			}
			line = append(line, chunk...)
		}
		if eol {
			if line == nil {
				line = []byte{}
			}
			return line, nil
		}
		if err != nil {
			if err == io.EOF && line != nil {
				return line, nil
			}
			return nil, err
		}
	}
}
