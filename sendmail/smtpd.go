package sendmail

// -bs: an SMTP dialogue on stdin/stdout, the way Symfony Mailer and other
// libraries talk to sendmail. go-smtp's server does the protocol; each
// message goes through the same accept path as a message on stdin.

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/message"
)

func serveSMTP(ctx context.Context, cfg *config.Config, inv *Invocation, env Env) error {
	conn := newStdioConn(env.Stdin, env.Stdout)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{ctx: ctx, cfg: cfg, inv: inv, env: env}, nil
	}))
	s.Domain = cfg.Hostname
	s.MaxLineLength = 1 << 20
	s.MaxRecipients = 0
	s.ReadTimeout = 10 * time.Minute
	s.ErrorLog = log.New(io.Discard, "", 0)
	err := s.Serve(&oneConnListener{conn: conn})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return exitf(ExIOErr, "SMTP dialogue: %v", err)
	}
	return nil
}

type smtpSession struct {
	ctx     context.Context
	cfg     *config.Config
	inv     *Invocation
	env     Env
	sender  string
	hasMail bool
	rcpts   []string
	body8   bool
}

func (s *smtpSession) Reset() {
	s.sender, s.hasMail, s.rcpts, s.body8 = "", false, nil, false
}

func (s *smtpSession) Logout() error { return nil }

func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	s.Reset()
	s.sender, s.hasMail = from, true
	if opts != nil && opts.Body == smtp.Body8BitMIME {
		s.body8 = true
	}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, err := resolveAll(s.cfg, []string{to}); err != nil {
		return smtpError(err)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	msg, err := message.Read(r, message.Options{IgnoreDots: true})
	if err != nil {
		// Drain what is left so the dialogue stays in step.
		io.Copy(io.Discard, r)
		return smtpError(withCode(ExDataErr, err))
	}
	inv := *s.inv
	inv.Sender = s.sender // "" for the null sender
	if s.body8 {
		inv.BodyType = "8BITMIME"
	}
	id, err := accept(s.ctx, s.cfg, &inv, s.env, msg, s.rcpts)
	if err != nil {
		return smtpError(err)
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}

// smtpError turns an exit status into the SMTP reply a client understands:
// the caller's mistakes are permanent, our own trouble is temporary.
func smtpError(err error) error {
	msg := oneLine(err.Error())
	switch ExitCode(err) {
	case ExUsage, ExDataErr:
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: msg}
	case ExNoUser:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: msg}
	case ExUnavailable:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: msg}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: msg}
}

// stdioConn is stdin and stdout seen as one net.Conn.
type stdioConn struct {
	r      io.Reader
	w      io.Writer
	once   sync.Once
	closed chan struct{}
}

func newStdioConn(r io.Reader, w io.Writer) *stdioConn {
	return &stdioConn{r: r, w: w, closed: make(chan struct{})}
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }

// oneConnListener hands out the stdio connection once, then reports itself
// closed when that connection ends, which ends Serve.
type oneConnListener struct {
	conn *stdioConn
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return l.conn.Close() }
func (l *oneConnListener) Addr() net.Addr { return stdioAddr{} }
