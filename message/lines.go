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
//
// A bare CR ends a line only in input that uses bare CRs as its line
// ending (decided by the first line). In LF or CRLF input, a CR inside a
// header line is a space: otherwise a CR smuggled into a Subject by a web
// form ("x\rBcc: victim@...") would become a header of its own.
type lineReader struct {
	br          *bufio.Reader
	dotEnds     bool
	atLineStart bool
	done        bool
	modeKnown   bool // the first line ending has been seen
	crBreaks    bool // bare CR is this input's line ending
	inHeader    bool
}

func newLineReader(r io.Reader, dotEnds bool) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64*1024), dotEnds: dotEnds, atLineStart: true, inHeader: true}
}

// next returns the next piece of a line, valid until the next call; eol is
// true when the piece ends its line. At the end of the input it returns
// io.EOF, with eol set when the last line had no line ending of its own.
func (l *lineReader) next() (chunk []byte, eol bool, err error) {
	for {
		if l.done {
			return nil, false, io.EOF
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
		if buf[i] == '\r' && i+1 == len(buf) {
			if i > 0 {
				// Hand out the text before the CR; the next call sees the
				// CR first, with the byte after it.
				l.br.Discard(i)
				l.atLineStart = false
				return buf[:i], false, nil
			}
			buf, _ = l.br.Peek(2) // nothing handed out yet: safe to refill
		}
		crlf := buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n'
		bareCR := buf[i] == '\r' && !crlf
		if !l.modeKnown {
			l.modeKnown, l.crBreaks = true, bareCR
		}
		if bareCR && !l.crBreaks && l.inHeader {
			buf[i] = ' ' // in place, in the reader's buffer; scan again
			continue
		}
		chunk = buf[:i]
		if l.atLineStart && l.dotEnds && len(chunk) == 1 && chunk[0] == '.' {
			l.done = true
			return nil, false, io.EOF
		}
		if crlf {
			l.br.Discard(i + 2)
		} else {
			l.br.Discard(i + 1)
		}
		l.atLineStart = true
		return chunk, true, nil
	}
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
