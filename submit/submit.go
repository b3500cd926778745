// Package submit owns one SMTP submission to Exchange Online: dial,
// STARTTLS (required: a token never crosses a plaintext connection), AUTH
// XOAUTH2 with a token from a TokenSource, MAIL/RCPT/DATA streamed, and what
// Exchange's replies mean — temporary or permanent, and what to do about
// them. It uses go-smtp's client and knows nothing of configuration,
// queues or how tokens are obtained.
package submit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// TokenSource gives access tokens for XOAUTH2.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	// Refresh returns a new token after the server refused stale.
	Refresh(ctx context.Context, stale string) (string, error)
}

// Options of a connection.
type Options struct {
	Addr     string         // host:port
	RootCAs  *x509.CertPool // nil: the system roots
	Hostname string         // EHLO name
	Mailbox  string         // XOAUTH2 user=
	Debug    io.Writer      // the dialogue, tokens redacted
	Timeout  time.Duration  // per command; default 2 minutes
}

// Envelope of one message.
type Envelope struct {
	From      string
	To        []string
	Size      int64
	EightBit  bool
	SMTPUTF8  bool
	DSNNotify []string
	DSNRet    string
	EnvID     string
}

// Result of a transaction that reached the end of DATA.
type Result struct {
	Reply    string
	Accepted []string
	Rejected []*Error // per recipient: the message went to Accepted only
}

// Error is a failed step with the server's reply, its class and a remedy.
type Error struct {
	Stage     string // dial, tls, auth, mail, rcpt, data
	Rcpt      string
	Code      int
	Enhanced  string
	Text      string
	Temporary bool
	Remedy    string
	Err       error // the network error when there was no reply
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Rcpt != "" {
		fmt.Fprintf(&b, "<%s>: ", e.Rcpt)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "%s refused: %d", e.Stage, e.Code)
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
		if e.Text != "" {
			b.WriteString(" " + e.Text)
		}
	} else {
		fmt.Fprintf(&b, "%s: %v", e.Stage, e.Err)
	}
	if e.Remedy != "" {
		b.WriteString(" — " + e.Remedy)
	}
	return oneLine(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// Conn is an authenticated connection that sends any number of messages.
type Conn struct {
	c    *smtp.Client
	o    Options
	used bool
}

// Dial connects to o.Addr, requires STARTTLS and authenticates with XOAUTH2.
// A 535 on a token gets one Refresh and one more try.
func Dial(ctx context.Context, o Options, ts TokenSource) (*Conn, error) {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		return nil, err
	}
	c, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	err = auth(c, o, tok)
	var se *Error
	if errors.As(err, &se) && se.Code == 535 && !strings.HasPrefix(se.Enhanced, "5.7.139") {
		// The token may be revoked or its rights changed since it was
		// cached: one new token, one more try.
		fresh, terr := ts.Refresh(ctx, tok)
		if terr != nil {
			c.Close()
			return nil, terr
		}
		if err = auth(c, o, fresh); err != nil && !isReply(err) {
			// The server hung up after the failure: a new connection.
			c.Close()
			if c, err = connect(ctx, o); err != nil {
				return nil, err
			}
			err = auth(c, o, fresh)
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Conn{c: c, o: o}, nil
}

func isReply(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Code != 0
}

func connect(ctx context.Context, o Options) (*smtp.Client, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, &Error{Stage: "dial", Err: fmt.Errorf("bad address %q: %v", o.Addr, err), Remedy: "give smtp as host:port"}
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, &Error{Stage: "dial", Err: err, Temporary: true, Remedy: "check the network and that " + o.Addr + " is reachable; the message stays queued"}
	}
	conn.SetDeadline(time.Now().Add(o.Timeout))
	cfg := &tls.Config{ServerName: host, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		conn.Close()
		if strings.Contains(err.Error(), "doesn't support STARTTLS") {
			return nil, &Error{Stage: "tls", Err: errors.New("server does not offer STARTTLS"), Remedy: "refusing to send the OAuth token in clear: check that smtp points at Exchange Online (smtp.office365.com:587)"}
		}
		return nil, classifyErr("tls", "", err)
	}
	conn.SetDeadline(time.Time{})
	c.CommandTimeout = o.Timeout
	c.SubmissionTimeout = 10 * time.Minute
	if o.Debug != nil {
		c.DebugWriter = newRedactor(o.Debug)
	}
	// The TLS handshake happens on the first exchange after STARTTLS.
	if err := c.Hello(o.Hostname); err != nil {
		c.Close()
		var ve x509.UnknownAuthorityError
		var he x509.HostnameError
		var ie x509.CertificateInvalidError
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ie) && ie.Reason == x509.Expired {
			return nil, &Error{Stage: "tls", Err: err, Remedy: "the server's certificate has expired or is not yet valid: check this machine's clock (timedatectl), then the certificate chain"}
		}
		if errors.As(err, &he) {
			return nil, &Error{Stage: "tls", Err: err, Remedy: "the certificate is not for " + host + ": check the smtp host name"}
		}
		if errors.As(err, &ve) || errors.As(err, &ce) {
			return nil, &Error{Stage: "tls", Err: err, Remedy: "the server's certificate is not trusted for " + host + "; if a TLS-inspecting proxy is in the way, add its CA with ca_file"}
		}
		return nil, classifyErr("ehlo", "", err)
	}
	return c, nil
}

func auth(c *smtp.Client, o Options, token string) error {
	if ok, _ := c.Extension("AUTH"); !ok {
		return &Error{Stage: "auth", Err: errors.New("server offers no AUTH after STARTTLS"), Remedy: "SMTP AUTH is off for this mailbox: Set-CASMailbox -Identity " + o.Mailbox + " -SmtpClientAuthenticationDisabled $false"}
	}
	if err := c.Auth(&xoauth2{user: o.Mailbox, token: token}); err != nil {
		return classifyErr("auth", "", err)
	}
	return nil
}

// xoauth2 is the SASL XOAUTH2 client (go-sasl no longer has one).
type xoauth2 struct {
	user, token string
}

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers a 334 error challenge (Gmail-style JSON) with an empty
// response, after which the server sends the real failure reply.
func (x *xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }

// Send sends one message on the connection.
func (c *Conn) Send(env Envelope, body io.Reader) (*Result, error) {
	if c.used {
		if err := c.c.Reset(); err != nil {
			return nil, classifyErr("mail", "", err)
		}
	}
	c.used = true
	hasDSN, _ := c.c.Extension("DSN")
	mo := &smtp.MailOptions{Size: env.Size}
	if ok, _ := c.c.Extension("8BITMIME"); ok && env.EightBit {
		mo.Body = smtp.Body8BitMIME
	}
	if env.SMTPUTF8 {
		if ok, _ := c.c.Extension("SMTPUTF8"); !ok {
			return nil, &Error{Stage: "mail", Err: errors.New("the message has non-ASCII addresses and the server does not offer SMTPUTF8"), Remedy: "use ASCII addresses"}
		}
		mo.UTF8 = true
	}
	if hasDSN {
		switch strings.ToUpper(env.DSNRet) {
		case "FULL":
			mo.Return = smtp.DSNReturnFull
		case "HDRS":
			mo.Return = smtp.DSNReturnHeaders
		}
		mo.EnvelopeID = env.EnvID
	}
	if err := c.c.Mail(env.From, mo); err != nil {
		return nil, classifyErr("mail", "", err)
	}
	res := &Result{}
	var ro *smtp.RcptOptions
	if hasDSN && len(env.DSNNotify) > 0 {
		ro = &smtp.RcptOptions{}
		for _, n := range env.DSNNotify {
			ro.Notify = append(ro.Notify, smtp.DSNNotify(strings.ToUpper(n)))
		}
	}
	for _, r := range env.To {
		if err := c.c.Rcpt(r, ro); err != nil {
			e := classifyErr("rcpt", r, err)
			if e.Code == 0 {
				return nil, e // the connection is gone
			}
			res.Rejected = append(res.Rejected, e)
			continue
		}
		res.Accepted = append(res.Accepted, r)
	}
	if len(res.Accepted) == 0 {
		return res, nil
	}
	w, err := c.c.Data()
	if err != nil {
		return nil, classifyErr("data", "", err)
	}
	if _, err := io.Copy(w, body); err != nil {
		w.Close()
		return nil, &Error{Stage: "data", Err: err, Temporary: true}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, classifyErr("data", "", err)
	}
	res.Reply = "250 " + resp.StatusText
	return res, nil
}

// Close ends the session politely.
func (c *Conn) Close() error {
	err := c.c.Quit()
	c.c.Close()
	return err
}

// Send is Dial, one Send, and Close.
func Send(ctx context.Context, o Options, ts TokenSource, env Envelope, body io.Reader) (*Result, error) {
	c, err := Dial(ctx, o, ts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Send(env, body)
}

func classifyErr(stage, rcpt string, err error) *Error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		enh := ""
		if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
			enh = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		temp, remedy := Classify(se.Code, enh, se.Message)
		return &Error{Stage: stage, Rcpt: rcpt, Code: se.Code, Enhanced: enh, Text: se.Message, Temporary: temp, Remedy: remedy}
	}
	// No reply: the connection broke or timed out. Retry later.
	return &Error{Stage: stage, Rcpt: rcpt, Err: err, Temporary: true, Remedy: "the connection failed; the message stays queued"}
}

// Classify tells a temporary reply from a permanent one and says what to
// do, from REFERENCE.md §B's table. Unknown 4xx are temporary, unknown 5xx
// permanent.
func Classify(code int, enhanced, text string) (temporary bool, remedy string) {
	t := strings.ToLower(text)
	switch {
	case code == 535 && enhanced == "5.7.139" && strings.Contains(t, "smtpclientauthentication is disabled"):
		return false, "SMTP AUTH is disabled for the tenant or mailbox (this also blocks OAuth): run Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false"
	case code == 535 && enhanced == "5.7.139":
		return false, "sign-in blocked by Security Defaults or Conditional Access: exclude this app or use a policy that allows SMTP AUTH"
	case code == 535:
		return false, "Exchange refused the token: give the app's service principal access (New-ServicePrincipal with the Enterprise application's Object ID, then Add-MailboxPermission -AccessRights FullAccess), and check the mailbox and the SMTP.SendAsApp permission"
	case code == 530 && enhanced == "5.7.57":
		return false, "the server wanted authentication before MAIL: report this as a bug"
	case code == 550 && enhanced == "5.7.30":
		return false, "basic authentication is not supported: use OAuth"
	case enhanced == "5.7.60" || strings.Contains(t, "sendasdenied") || enhanced == "5.2.252":
		return false, "the mailbox may not send as this From address: use from = \"rewrite\", or grant it: Add-RecipientPermission <sender> -Trustee <mailbox or app> -AccessRights SendAs"
	case strings.Contains(t, "submissionquotaexceeded"):
		return true, "the mailbox reached 10,000 recipients in 24 hours: the message is retried later"
	case strings.Contains(t, "quotaexceeded") || enhanced == "5.2.2":
		return false, "the sending mailbox is full (sent mail is saved to Sent Items): free space or raise its quota"
	case enhanced == "5.5.3" && strings.Contains(t, "reciplimit"):
		return false, "more than 500 recipients in one message: split the recipient list"
	case enhanced == "5.7.233":
		return true, "the tenant's external recipient rate limit (TERRL) was reached: retried later"
	case enhanced == "5.7.708" || enhanced == "5.7.750" || enhanced == "5.7.705":
		return false, "Exchange Online blocks sending from this tenant or domain: see the Microsoft 365 admin center"
	case enhanced == "5.6.211":
		return false, "Exchange found the message's MIME structure invalid"
	case code == 432 || strings.Contains(t, "thread limit") || strings.Contains(t, "concurrent connections"):
		return true, "Exchange throttled this mailbox (more than 3 connections or 30 messages a minute): retried later"
	case enhanced == "5.5.127" || code == 501 && strings.Contains(t, "expir"):
		return true, "the token was about to expire: a fresh one is used on the next try"
	case code >= 400 && code < 500:
		return true, "a temporary failure at Exchange: retried later"
	}
	return false, ""
}

// redactor passes the SMTP dialogue to w with the XOAUTH2 payload and any
// base64 client response hidden.
type redactor struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func newRedactor(w io.Writer) *redactor { return &redactor{w: w} }

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(p)
	for {
		line, err := r.buf.ReadBytes('\n')
		if err != nil {
			// Keep the partial line for the next write.
			rest := append([]byte(nil), line...)
			r.buf.Reset()
			r.buf.Write(rest)
			break
		}
		s := string(line)
		if f := strings.Fields(s); len(f) >= 2 && strings.EqualFold(f[0], "AUTH") {
			s = f[0] + " " + f[1] + " [token redacted]\r\n"
		}
		io.WriteString(r.w, s)
	}
	return len(p), nil
}

// Probe is what doctor learns about the server before authenticating.
type Probe struct {
	TLSVersion string
	PeerName   string    // the certificate's subject common name
	NotAfter   time.Time // the certificate's expiry
	AuthMechs  []string
}

// ProbeServer connects, requires STARTTLS and reports the TLS session and
// the AUTH mechanisms offered, without authenticating.
func ProbeServer(ctx context.Context, o Options) (*Probe, error) {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	c, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	p := &Probe{}
	if st, ok := c.TLSConnectionState(); ok {
		p.TLSVersion = tls.VersionName(st.Version)
		if len(st.PeerCertificates) > 0 {
			p.PeerName = st.PeerCertificates[0].Subject.CommonName
			p.NotAfter = st.PeerCertificates[0].NotAfter
		}
	}
	if ok, mechs := c.Extension("AUTH"); ok {
		p.AuthMechs = strings.Fields(mechs)
	}
	c.Quit()
	return p, nil
}
