package message

import (
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
)

// addr is one parsed mailbox: what goes in RCPT TO and its display name.
type addr struct {
	name, email string
}

// ParseAddressList reads a recipient list the tolerant way sendmail
// callers need: cron passes "a@x,b@y" as one argument, headers carry bare
// local names ("root"), "root (Cron Daemon)", groups ("Team: a@x, b@y;",
// "undisclosed-recipients:;"), quoted names with commas and comments.
// It returns the bare addresses.
func ParseAddressList(s string) ([]string, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, &Error{Msg: "line break or NUL in address list " + quoteShort(s)}
	}
	list, err := parseList(s)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.email)
	}
	return out, nil
}

// wordDecoder decodes encoded words in display names, in any charset.
var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

func parseList(s string) ([]addr, error) {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	var out []addr
	var cur strings.Builder
	inQuote, depth, angle := false, 0, false
	flush := func() error {
		part := strings.TrimSpace(cur.String())
		cur.Reset()
		if rest, _ := stripComments(part); strings.TrimSpace(rest) == "" {
			return nil // nothing, or only a comment: "(the end of the group)"
		}
		a, err := parseOne(part)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			if c == '\\' && i+1 < len(s) {
				cur.WriteByte(c)
				i++
				c = s[i]
			} else if c == '"' {
				inQuote = false
			}
		case depth > 0:
			if c == '\\' && i+1 < len(s) {
				cur.WriteByte(c)
				i++
				c = s[i]
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '"':
			inQuote = true
		case c == '(':
			depth++
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ',' || c == ';':
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		case c == ':':
			// A group's display name ends here; its members follow.
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if inQuote || depth > 0 || angle {
		return nil, &Error{Msg: "unbalanced quote, parenthesis or angle bracket in address list " + quoteShort(s)}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseOne reads `Name <a@b>`, `"Name" <a@b>`, `a@b (Name)`, `a@b` or `root`.
func parseOne(s string) (addr, error) {
	var a addr
	rest, comment := stripComments(s)
	rest = strings.TrimSpace(rest)
	if lt := strings.LastIndexByte(rest, '<'); lt >= 0 && strings.HasSuffix(rest, ">") {
		inner := strings.TrimSpace(rest[lt+1 : len(rest)-1])
		// Obsolete source routes: <@a,@b:user@c>.
		if strings.HasPrefix(inner, "@") {
			if i := strings.IndexByte(inner, ':'); i >= 0 {
				inner = inner[i+1:]
			}
		}
		a.email = strings.TrimSpace(inner)
		if strings.ContainsAny(rest[:lt], "<>") {
			return addr{}, &Error{Msg: "invalid address " + quoteShort(s) + ": one address per list element, separated by commas"}
		}
		a.name = cleanName(rest[:lt])
	} else {
		a.email = rest
		a.name = cleanName(comment)
	}
	if err := checkAddress(a.email); err != nil {
		return addr{}, err
	}
	return a, nil
}

// stripComments removes (comments), returning the rest and the first
// comment's text (a display name in "root (Cron Daemon)").
func stripComments(s string) (rest, comment string) {
	var b, c strings.Builder
	depth := 0
	inQuote := false
	found := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			// A quoted pair, inside a quoted string or a comment.
			if depth > 0 {
				if !found {
					c.WriteByte(s[i+1])
				}
			} else {
				b.WriteByte(ch)
				b.WriteByte(s[i+1])
			}
			i++
		case inQuote:
			if ch == '"' {
				inQuote = false
			}
			b.WriteByte(ch)
		case ch == '"' && depth == 0:
			inQuote = true
			b.WriteByte(ch)
		case ch == '(':
			if depth > 0 && !found {
				c.WriteByte(ch)
			}
			depth++
		case ch == ')' && depth > 0:
			depth--
			if depth == 0 {
				found = true
			} else if !found {
				c.WriteByte(ch)
			}
		case depth > 0:
			if !found {
				c.WriteByte(ch)
			}
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), c.String()
}

func cleanName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.ReplaceAll(s[1:len(s)-1], `\"`, `"`)
	}
	if dec, err := wordDecoder.DecodeHeader(s); err == nil {
		s = dec
	}
	return strings.TrimSpace(s)
}

// checkAddress refuses what must never reach an SMTP command: empty
// addresses, spaces or controls outside a quoted local part, brackets.
func checkAddress(e string) error {
	if e == "" {
		return &Error{Msg: "empty address"}
	}
	inQuote := false
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case c == '"':
			inQuote = !inQuote
		case c < ' ' || c == 0x7f:
			return &Error{Msg: "control character in address " + quoteShort(e)}
		case inQuote:
		case c == ' ' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == '\\':
			return &Error{Msg: "invalid address " + quoteShort(e) + ": use name@domain"}
		}
	}
	if inQuote || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@") {
		return &Error{Msg: "invalid address " + quoteShort(e) + ": use name@domain"}
	}
	return nil
}

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < ' ' {
			return '?'
		}
		return r
	}, s) + `"`
}

// Recipients returns the -t recipients: from Resent-To/-Cc/-Bcc when the
// message has any of them, else from To, Cc and Bcc; bare addresses,
// without duplicates, in order.
func (m *Message) Recipients() ([]string, error) {
	keys := []string{"To", "Cc", "Bcc"}
	for _, k := range []string{"Resent-To", "Resent-Cc", "Resent-Bcc"} {
		if m.Header.Has(k) {
			keys = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
			break
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		for _, v := range m.Header.Values(k) {
			list, err := parseList(v)
			if err != nil {
				return nil, &Error{Msg: k + " header: " + err.Error()}
			}
			for _, a := range list {
				if l := strings.ToLower(a.email); !seen[l] {
					seen[l] = true
					out = append(out, a.email)
				}
			}
		}
	}
	return out, nil
}

// From returns the first From address and its display name.
func (m *Message) From() (name, address string, ok bool) {
	v := m.Header.Get("From")
	if strings.TrimSpace(v) == "" {
		return "", "", false
	}
	list, err := parseList(v)
	if err != nil || len(list) == 0 {
		// "From: Logwatch" parses as a local name; anything worse still
		// gives its words as a display name.
		return cleanName(v), "", false
	}
	return list[0].name, list[0].email, true
}

// StripBcc removes Bcc and Resent-Bcc: blind recipients get the message,
// nobody sees them.
func (m *Message) StripBcc() {
	m.Header.Del("Bcc")
	m.Header.Del("Resent-Bcc")
}

// FixOptions are the values Fix fills in.
type FixOptions struct {
	Hostname string    // Message-ID domain
	Now      time.Time // Date
	Sender   string    // From address when the message has none
	FullName string    // -F: its display name
}

// Fix adds what a submitted message must have and callers such as cron
// leave out: Date, Message-ID, From.
func (m *Message) Fix(o FixOptions) {
	if !m.Header.Has("Date") {
		m.Header.SetDate(o.Now)
	}
	if !m.Header.Has("Message-Id") {
		host := o.Hostname
		if host == "" {
			host = "localhost"
		}
		m.Header.GenerateMessageIDWithHostname(host)
	}
	if strings.TrimSpace(m.Header.Get("From")) == "" && o.Sender != "" {
		m.Header.SetAddressList("From", []*mail.Address{{Name: o.FullName, Address: o.Sender}})
	}
}

// RewriteFrom makes mailbox the From address, keeping the display name
// (the header's, else fallbackName) and the original in X-Original-From:
// Exchange refuses a From the mailbox may not send as.
func (m *Message) RewriteFrom(mailbox, fallbackName string) {
	orig := m.Header.Get("From")
	name, address, _ := m.From()
	if name == "" {
		name = fallbackName
	}
	if name == "" && address != "" && !strings.Contains(address, "@") {
		name = address // "From: Logwatch"
	}
	if strings.EqualFold(address, mailbox) && len(m.Header.Values("From")) == 1 {
		if name != "" {
			m.Header.SetAddressList("From", []*mail.Address{{Name: name, Address: mailbox}})
		}
		return
	}
	if strings.TrimSpace(orig) != "" {
		m.Header.Set("X-Original-From", strings.TrimSpace(sanitize(orig)))
	}
	m.Header.Del("From")
	m.Header.Del("Sender")
	m.Header.SetAddressList("From", []*mail.Address{{Name: name, Address: mailbox}})
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// NeedsSMTPUTF8 reports whether an address header holds non-ASCII text
// outside encoded words: then the server must offer SMTPUTF8.
func (m *Message) NeedsSMTPUTF8() bool {
	for _, k := range []string{"From", "To", "Cc", "Sender", "Reply-To"} {
		for _, v := range m.Header.Values(k) {
			list, err := parseList(v)
			if err != nil {
				continue
			}
			for _, a := range list {
				for i := 0; i < len(a.email); i++ {
					if a.email[i] >= 0x80 {
						return true
					}
				}
			}
		}
	}
	return false
}
