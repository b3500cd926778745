package fakeexo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TokenChecker decides whether token lets user (the XOAUTH2 user=) send.
type TokenChecker func(user, token string) error

// Exchange is a fake Exchange Online SMTP submission endpoint: STARTTLS
// required before AUTH, XOAUTH2 checked by a TokenChecker, SendAs judged
// at the end of DATA, replies worded like Exchange's, faults on demand.
type Exchange struct {
	Addr string

	srv   *smtp.Server
	ln    net.Listener
	check TokenChecker

	mu       sync.Mutex
	received []Received
	faults   []*Fault
	sendAs   map[string][]string
	conns    int
	auths    int
	msgSeq   int64
	closedWG sync.WaitGroup
}

// Received is one accepted message.
type Received struct {
	User     string
	From     string
	To       []string
	Data     []byte
	Body8Bit bool
	SMTPUTF8 bool
	DSN      map[string]string
}

// Fault is an injected failure.
type Fault struct {
	// Stage: "greeting" (421 and close), "auth", "mail", "rcpt", "data"
	// (after the body, like Exchange's end-of-DATA checks), "drop-mid-data"
	// (close the connection while the body is coming).
	Stage    string
	Code     int
	Enhanced string
	Text     string
	Times    int    // 0: once; n: n times; -1: until ClearFaults
	Rcpt     string // stage "rcpt": only this recipient
}

// ExchangeOption changes how the fake behaves.
type ExchangeOption func(*Exchange)

// WithoutStartTLS makes the fake offer no STARTTLS (and so no AUTH).
func WithoutStartTLS() ExchangeOption {
	return func(x *Exchange) { x.srv.TLSConfig = nil }
}

// NewExchange starts the fake on 127.0.0.1 with a certificate from ca.
func NewExchange(ca *CA, check TokenChecker, opts ...ExchangeOption) (*Exchange, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	x := &Exchange{Addr: ln.Addr().String(), check: check, sendAs: map[string][]string{}}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &exoSession{x: x, conn: c}, nil
	}))
	s.Domain = "FAKE01.prod.outlook.test Microsoft ESMTP MAIL"
	s.TLSConfig = ca.ServerTLS()
	s.AllowInsecureAuth = false
	s.MaxLineLength = 64 * 1024
	s.MaxMessageBytes = 157286400
	s.MaxRecipients = 0
	s.EnableSMTPUTF8 = true
	s.EnableDSN = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	x.srv = s
	for _, o := range opts {
		o(x)
	}
	x.ln = &faultListener{Listener: ln, x: x}
	x.closedWG.Add(1)
	go func() {
		defer x.closedWG.Done()
		s.Serve(x.ln)
	}()
	return x, nil
}

// Close stops the fake.
func (x *Exchange) Close() error {
	err := x.srv.Close()
	// Serve may not have registered the listener yet when Close comes
	// right after NewExchange: close it ourselves so that Serve returns.
	x.ln.Close()
	x.closedWG.Wait()
	return err
}

// Received returns the accepted messages in order.
func (x *Exchange) Received() []Received {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]Received(nil), x.received...)
}

// Connections counts the TCP connections accepted.
func (x *Exchange) Connections() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.conns
}

// AuthAttempts counts AUTH commands.
func (x *Exchange) AuthAttempts() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.auths
}

// Inject queues a fault.
func (x *Exchange) Inject(f Fault) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.faults = append(x.faults, &f)
}

// ClearFaults removes every queued fault.
func (x *Exchange) ClearFaults() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.faults = nil
}

// AllowSendAs lets mailbox send with the From addresses senders.
func (x *Exchange) AllowSendAs(mailbox string, senders ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sendAs[strings.ToLower(mailbox)] = append(x.sendAs[strings.ToLower(mailbox)], senders...)
}

// fault takes the next fault for stage (and rcpt), if any.
func (x *Exchange) fault(stage, rcpt string) *Fault {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, f := range x.faults {
		if f.Stage != stage || (f.Rcpt != "" && !strings.EqualFold(f.Rcpt, rcpt)) {
			continue
		}
		switch {
		case f.Times < 0:
		case f.Times <= 1:
			x.faults = append(x.faults[:i], x.faults[i+1:]...)
		default:
			f.Times--
		}
		c := *f
		return &c
	}
	return nil
}

func (f *Fault) smtpError() *smtp.SMTPError {
	var enh smtp.EnhancedCode
	if _, err := fmt.Sscanf(f.Enhanced, "%d.%d.%d", &enh[0], &enh[1], &enh[2]); err != nil {
		enh = smtp.NoEnhancedCode
	}
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: enh, Message: f.Text}
}

func (x *Exchange) mayUse(user, from string) bool {
	if strings.EqualFold(user, from) {
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.sendAs[strings.ToLower(user)] {
		if strings.EqualFold(s, from) {
			return true
		}
	}
	return false
}

// faultListener counts connections and plays the "greeting" fault.
type faultListener struct {
	net.Listener
	x *Exchange
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.x.mu.Lock()
		l.x.conns++
		l.x.mu.Unlock()
		if f := l.x.fault("greeting", ""); f != nil {
			fmt.Fprintf(c, "%d %s %s\r\n", f.Code, f.Enhanced, f.Text)
			c.Close()
			continue
		}
		return c, nil
	}
}

type exoSession struct {
	x     *Exchange
	conn  *smtp.Conn
	user  string
	from  string
	to    []string
	opts  *smtp.MailOptions
	rcptD map[string]string
}

func (s *exoSession) AuthMechanisms() []string { return []string{"LOGIN", "XOAUTH2"} }

func (s *exoSession) Auth(mech string) (sasl.Server, error) {
	s.x.mu.Lock()
	s.x.auths++
	s.x.mu.Unlock()
	if f := s.x.fault("auth", ""); f != nil {
		return nil, f.smtpError()
	}
	if mech != "XOAUTH2" {
		return nil, authFailed()
	}
	return &xoauth2Server{s: s}, nil
}

func authFailed() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3},
		Message: "Authentication unsuccessful [FAKE01.prod.outlook.test 2026-11-23T00:00:00.000Z 08DD0000000000]"}
}

// xoauth2Server checks "user=U\x01auth=Bearer T\x01\x01". Exchange answers
// a bad token with 535 right away, never a 334 challenge.
type xoauth2Server struct{ s *exoSession }

func (a *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		// No initial response: ask for it with an empty challenge.
		return []byte{}, false, nil
	}
	var user, token string
	for _, part := range strings.Split(string(resp), "\x01") {
		switch {
		case strings.HasPrefix(part, "user="):
			user = strings.TrimPrefix(part, "user=")
		case strings.HasPrefix(part, "auth=Bearer "):
			token = strings.TrimPrefix(part, "auth=Bearer ")
		}
	}
	if user == "" || token == "" || !strings.HasSuffix(string(resp), "\x01\x01") {
		return nil, false, authFailed()
	}
	if err := a.s.x.check(user, token); err != nil {
		return nil, false, authFailed()
	}
	a.s.user = user
	return nil, true, nil
}

func (s *exoSession) Reset() {
	s.from, s.to, s.opts, s.rcptD = "", nil, nil, nil
}

func (s *exoSession) Logout() error { return nil }

func (s *exoSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 57}, Message: "Client not authenticated to send mail. [FAKE01.prod.outlook.test]"}
	}
	if f := s.x.fault("mail", ""); f != nil {
		return f.smtpError()
	}
	s.from, s.opts = from, opts
	return nil
}

func (s *exoSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if f := s.x.fault("rcpt", to); f != nil {
		return f.smtpError()
	}
	if len(s.to) >= 500 {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 5, 3}, Message: "RESOLVER.ADR.RecipLimit; too many recipients"}
	}
	s.to = append(s.to, to)
	if opts != nil && len(opts.Notify) > 0 {
		if s.rcptD == nil {
			s.rcptD = map[string]string{}
		}
		var n []string
		for _, v := range opts.Notify {
			n = append(n, string(v))
		}
		s.rcptD["NOTIFY"] = strings.Join(n, ",")
	}
	return nil
}

func (s *exoSession) Data(r io.Reader) error {
	if f := s.x.fault("drop-mid-data", ""); f != nil {
		io.CopyN(io.Discard, r, 10)
		s.conn.Conn().Close()
		return errors.New("connection dropped")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if f := s.x.fault("data", ""); f != nil {
		return f.smtpError()
	}
	// Like Exchange: SendAs is judged only now, after the whole body.
	from := s.from
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		if a, err := mail.ParseAddress(m.Header.Get("From")); err == nil {
			if !s.x.mayUse(s.user, a.Address) {
				from = a.Address
			}
		}
	}
	if !s.x.mayUse(s.user, s.from) || !s.x.mayUse(s.user, from) {
		bad := from
		if !s.x.mayUse(s.user, s.from) {
			bad = s.from
		}
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 2, 252},
			Message: fmt.Sprintf("SendAsDenied; %s not allowed to send as %s; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied", s.user, bad)}
	}
	rec := Received{User: s.user, From: s.from, To: append([]string(nil), s.to...), Data: data}
	if s.opts != nil {
		rec.Body8Bit = s.opts.Body == smtp.Body8BitMIME
		rec.SMTPUTF8 = s.opts.UTF8
		if s.opts.Return != "" || s.opts.EnvelopeID != "" || s.rcptD != nil {
			rec.DSN = map[string]string{}
			if s.opts.Return != "" {
				rec.DSN["RET"] = string(s.opts.Return)
			}
			if s.opts.EnvelopeID != "" {
				rec.DSN["ENVID"] = s.opts.EnvelopeID
			}
			for k, v := range s.rcptD {
				rec.DSN[k] = v
			}
		}
	}
	id := atomic.AddInt64(&s.x.msgSeq, 1)
	s.x.mu.Lock()
	s.x.received = append(s.x.received, rec)
	s.x.mu.Unlock()
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: fmt.Sprintf("OK <FAKE%06d@FAKE01.prod.outlook.test> [Hostname=FAKE01.prod.outlook.test]", id)}
}
