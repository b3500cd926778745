package sendmail

// This file is the path of one message: stdin → message → config → queue →
// oauth → submit. Everything before Commit may fail with an exit status and
// leave nothing behind; everything after it keeps the message on disk until
// Exchange has it or it is moved to failed/ with a remedy.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/message"
	"github.com/oauth-sendmail/oauth-sendmail/oauth"
	"github.com/oauth-sendmail/oauth-sendmail/queue"
	"github.com/oauth-sendmail/oauth-sendmail/submit"
)

// Submit accepts one message from env.Stdin: it resolves the recipients,
// picks the profile, fixes the header, queues the message durably and, unless
// -odq, delivers it right away. It returns the queue id.
func Submit(ctx context.Context, cfg *config.Config, inv *Invocation, env Env) (string, error) {
	msg, err := message.Read(env.Stdin, message.Options{IgnoreDots: inv.IgnoreDots})
	if err != nil {
		return "", withCode(ExDataErr, err)
	}
	var rcpts []string
	for _, arg := range inv.Recipients {
		list, err := message.ParseAddressList(arg)
		if err != nil {
			return "", exitf(ExUsage, "recipient %q: %v", arg, err)
		}
		rcpts = append(rcpts, list...)
	}
	if inv.ExtractRecipients {
		list, err := msg.Recipients()
		if err != nil {
			return "", withCode(ExDataErr, err)
		}
		rcpts = append(rcpts, list...)
	}
	return accept(ctx, cfg, inv, env, msg, rcpts)
}

// accept is the part of Submit shared with the -bs dialogue, which gets its
// recipients from RCPT commands rather than argv or headers.
func accept(ctx context.Context, cfg *config.Config, inv *Invocation, env Env, msg *message.Message, rcpts []string) (string, error) {
	resolved, err := resolveAll(cfg, rcpts)
	if err != nil {
		return "", err
	}
	if len(resolved) == 0 {
		return "", exitf(ExUsage, "no recipients: name them after the options, or use -t to read To/Cc/Bcc from the message")
	}

	_, fromAddr, _ := msg.From()
	p, err := cfg.ChooseProfile(nonEmpty(inv.Sender, fromAddr, env.User)...)
	if err != nil {
		return "", withCode(ExConfig, err)
	}

	// Decide the From before connecting: Exchange judges SendAs only after the
	// whole body has been uploaded.
	msg.StripBcc()
	msg.Fix(message.FixOptions{
		Hostname: cfg.Hostname,
		Now:      env.Now(),
		Sender:   qualify(cfg, nonEmpty(strings.Trim(inv.Sender, "<>"), env.User, "postmaster")[0]),
		FullName: inv.FullName,
	})
	envFrom := p.Mailbox
	if p.From == "keep" {
		// The caller's sender stands; the mailbox needs SendAs for it.
		if _, addr, ok := msg.From(); ok && strings.Contains(addr, "@") {
			envFrom = addr
		}
		if strings.Contains(inv.Sender, "@") {
			envFrom = inv.Sender
		}
	} else {
		msg.RewriteFrom(p.Mailbox, inv.FullName)
	}

	q, err := OpenQueue(cfg)
	if err != nil {
		return "", err
	}
	if step := env.Getenv("OAUTH_SENDMAIL_CRASH_AT"); step != "" && !env.Privileged {
		// The crash-safety tests kill us at a step of the enqueue.
		q.SetCrashPoint(step)
	}
	draft, err := q.Create()
	if err != nil {
		return "", exitf(ExCantCreat, "cannot create a queue file in %s: %v", cfg.Queue.Dir, err)
	}
	size, err := msg.WriteTo(draft)
	if err != nil {
		draft.Abort()
		var me *message.Error
		if errors.As(err, &me) {
			return "", withCode(ExDataErr, err)
		}
		return "", exitf(ExIOErr, "writing the message to the queue failed: %v", err)
	}
	if p.MaxMessageSize > 0 && size > p.MaxMessageSize {
		draft.Abort()
		return "", exitf(ExDataErr, "message is %s, more than profile %q accepts (max_message_size = %s); send large files as links",
			humanSize(size), p.Name, humanSize(p.MaxMessageSize))
	}
	env8 := msg.EightBit() || inv.BodyType == "8BITMIME"
	id, err := draft.Commit(queue.Envelope{
		Profile:     p.Name,
		Sender:      envFrom,
		Recipients:  resolved,
		NextAttempt: env.Now(),
		EightBit:    env8,
		SMTPUTF8:    msg.NeedsSMTPUTF8(),
		DSNNotify:   splitList(inv.DSNNotify),
		DSNRet:      inv.DSNRet,
		EnvID:       inv.EnvID,
	})
	if err != nil {
		return "", exitf(ExIOErr, "saving the message in the queue failed: %v", err)
	}
	// From here on the message is on disk: no error below may lose it.
	if inv.Delivery == DeliverQueue {
		return id, nil
	}
	r := newRunner(cfg, q, env, inv.Verbose)
	defer r.close()
	it, err := q.Lease(id)
	if err != nil {
		// A queue runner took it first: it is in good hands.
		return id, nil
	}
	out := r.deliver(ctx, it)
	wait := inv.Delivery == DeliverWait
	if !wait && out.status == "held" {
		// Exit 0 (the message is safe), but whoever ran us must hear that
		// nothing will go out until the profile is fixed.
		fmt.Fprintf(env.Stderr, "sendmail: warning: %v\n", out.err)
	}
	if wait && (out.status == "deferred" || out.status == "held") && out.cause != nil {
		// The caller hears 75 or 78 and keeps the message itself (Postfix's
		// pipe defers it): keeping our copy too would send it twice.
		if it, err := q.Lease(id); err == nil {
			it.Done()
		}
		return id, &ExitError{Code: out.code, Err: out.cause}
	}
	return id, out.exitError(wait)
}

func resolveAll(cfg *config.Config, rcpts []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range rcpts {
		addrs, err := cfg.ResolveRecipient(r)
		if err != nil {
			var nu *config.NoUserError
			if errors.As(err, &nu) {
				return nil, withCode(ExNoUser, err)
			}
			return nil, withCode(ExConfig, err)
		}
		for _, a := range addrs {
			if k := strings.ToLower(a); !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// qualify turns a local name into an address at the configured hostname, the
// way the message will name its sender when it has no From of its own.
func qualify(cfg *config.Config, addr string) string {
	if strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + cfg.Hostname
}

// OpenQueue opens the spool of cfg with the modes of its install.
func OpenQueue(cfg *config.Config) (*queue.Queue, error) {
	perm := os.FileMode(0o700)
	if cfg.System {
		perm = 0o2770 | os.ModeSetgid
	}
	q, err := queue.Open(cfg.Queue.Dir, perm)
	if err != nil {
		if os.IsPermission(errors.Unwrap(err)) || os.IsPermission(err) {
			return nil, exitf(ExNoPerm, "%v", err)
		}
		return nil, exitf(ExCantCreat, "%v", err)
	}
	return q, nil
}

// outcome is what one delivery attempt did to a queued item.
type outcome struct {
	status string // sent, deferred, held, bounced
	err    error
	code   int   // exit status for a caller that waits
	cause  error // for held: the credential problem itself
}

// exitError is what the submitting process reports: with the default
// delivery a temporary failure or a held credential problem still exits 0 (the
// message is safe in the queue); -odi reports the real outcome.
func (o outcome) exitError(wait bool) error {
	switch o.status {
	case "sent":
		return nil
	case "bounced":
		return &ExitError{Code: o.code, Err: o.err}
	}
	if wait {
		return &ExitError{Code: o.code, Err: o.err}
	}
	return nil
}

// runner delivers queued items. It keeps one authenticated connection and one
// token source per profile, so a queue run reuses them for many messages.
type runner struct {
	cfg     *config.Config
	q       *queue.Queue
	env     Env
	verbose int
	log     *Logger
	sources map[string]*tokenSource
	conns   map[string]*submit.Conn
	sent    map[string][]time.Time // per profile, for pacing
	pace    bool
	notices []string // notices queued during this run, sent at its end
	sleep   func(ctx context.Context, d time.Duration)
}

func newRunner(cfg *config.Config, q *queue.Queue, env Env, verbose int) *runner {
	return &runner{
		cfg:     cfg,
		q:       q,
		env:     env,
		verbose: verbose,
		log:     OpenLogger(cfg.Log, env.Stderr),
		sources: map[string]*tokenSource{},
		conns:   map[string]*submit.Conn{},
		sent:    map[string][]time.Time{},
		sleep: func(ctx context.Context, d time.Duration) {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		},
	}
}

func (r *runner) close() {
	for name, c := range r.conns {
		c.Close()
		delete(r.conns, name)
	}
	r.log.Close()
}

// tokenSource adapts an oauth.Source to submit.TokenSource and remembers the
// last token error, so a failed dial can tell a credential problem from an
// SMTP one whatever wrapping the error went through.
type tokenSource struct {
	src     *oauth.Source
	lastErr error
}

// SubmitTokens adapts an oauth source to what submit needs.
func SubmitTokens(src *oauth.Source) submit.TokenSource { return &tokenSource{src: src} }

func (t *tokenSource) Token(ctx context.Context) (string, error) {
	tok, err := t.src.Token(ctx)
	t.lastErr = err
	return tok.AccessToken, err
}

func (t *tokenSource) Refresh(ctx context.Context, stale string) (string, error) {
	tok, err := t.src.Refresh(ctx, stale)
	t.lastErr = err
	return tok.AccessToken, err
}

// TokenSource builds the token source of profile p.
func TokenSource(cfg *config.Config, p *config.Profile, warn func(string)) (*oauth.Source, error) {
	if warn == nil {
		warn = func(string) {}
	}
	if exp := p.ClientSecretExpires; !exp.IsZero() && p.Auth == "client_secret" {
		switch left := time.Until(exp); {
		case left < 0:
			warn(fmt.Sprintf("profile %q: the client secret expired on %s (client_secret_expires): create a new secret in Entra ID, put its Value in %s and update client_secret_expires",
				p.Name, exp.Format("2006-01-02"), firstNonEmpty(p.ClientSecretFile, "client_secret")))
		case left < 30*24*time.Hour:
			warn(fmt.Sprintf("profile %q: the client secret expires on %s, in %d days (client_secret_expires): create a new one before then",
				p.Name, exp.Format("2006-01-02"), int(left.Hours()/24)+1))
		}
	}
	s := oauth.Settings{
		Authority:       p.Authority,
		Tenant:          p.Tenant,
		ClientID:        p.ClientID,
		Method:          p.Auth,
		CertificateFile: p.CertificateFile,
		KeyFile:         p.KeyFile,
		SendX5C:         p.SendX5C,
		Scopes:          p.Scopes,
		CacheFile:       filepath.Join(cfg.CacheDir, p.Name+".json"),
		CAFile:          p.CAFile,
		Profile:         p.Name,
		Warn:            warn,
	}
	switch p.Auth {
	case "client_secret":
		secret, err := p.Secret()
		if err != nil {
			return nil, err
		}
		s.Secret = secret
	case "client_certificate":
		if p.KeyPassphraseFile != "" {
			b, err := os.ReadFile(p.KeyPassphraseFile)
			if err != nil {
				return nil, fmt.Errorf("profile %q: key_passphrase_file: %v", p.Name, err)
			}
			s.KeyPassphrase = strings.TrimSpace(string(b))
		}
	}
	return oauth.New(s)
}

// TokenExitError gives a token error the exit status its cause calls for:
// a Microsoft outage or timeout is temporary (75), anything else is for the
// operator to fix in the configuration or in Entra (78).
func TokenExitError(err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Temporary {
		return withCode(ExTempFail, err)
	}
	return withCode(ExConfig, err)
}

// DeliveryExitError gives a delivery error its exit status: token errors as
// TokenExitError, SMTP refusals 75 when temporary, else 69.
func DeliveryExitError(err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return TokenExitError(err)
	}
	var se *submit.Error
	if errors.As(err, &se) && !se.Temporary {
		return withCode(ExUnavailable, err)
	}
	return withCode(ExTempFail, err)
}

func (r *runner) source(p *config.Profile) (*tokenSource, error) {
	if ts, ok := r.sources[p.Name]; ok {
		return ts, nil
	}
	src, err := TokenSource(r.cfg, p, func(msg string) { r.log.Warn(msg) })
	if err != nil {
		return nil, err
	}
	ts := &tokenSource{src: src}
	r.sources[p.Name] = ts
	return ts, nil
}

func (r *runner) submitOptions(p *config.Profile) (submit.Options, error) {
	pool, err := RootCAs(p.CAFile)
	if err != nil {
		return submit.Options{}, fmt.Errorf("profile %q: ca_file: %v", p.Name, err)
	}
	o := submit.Options{Addr: p.SMTP, RootCAs: pool, Hostname: r.cfg.Hostname, Mailbox: p.Mailbox}
	if r.verbose > 0 {
		o.Debug = r.env.Stderr
	}
	return o, nil
}

// RootCAs is the system roots plus ca_file.
func RootCAs(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// conn returns the profile's open, authenticated connection, dialling one
// when needed.
func (r *runner) conn(ctx context.Context, p *config.Profile) (*submit.Conn, error) {
	if c, ok := r.conns[p.Name]; ok {
		return c, nil
	}
	ts, err := r.source(p)
	if err != nil {
		return nil, credentialError{err}
	}
	o, err := r.submitOptions(p)
	if err != nil {
		return nil, credentialError{err}
	}
	ts.lastErr = nil
	c, err := submit.Dial(ctx, o, ts)
	if err != nil {
		if ts.lastErr != nil {
			return nil, ts.lastErr
		}
		return nil, err
	}
	r.conns[p.Name] = c
	return c, nil
}

func (r *runner) dropConn(name string) {
	if c, ok := r.conns[name]; ok {
		c.Close()
		delete(r.conns, name)
	}
}

// credentialError marks a local configuration problem of a profile (secret
// file unreadable, bad certificate, bad ca_file): the item is held, not failed.
type credentialError struct{ error }

func (e credentialError) Unwrap() error { return e.error }

// deliver makes one delivery attempt of a leased item and records the result
// in the queue. It always releases the lease.
func (r *runner) deliver(ctx context.Context, it *queue.Item) outcome {
	start := r.env.Now()
	env := it.Env
	p, err := r.cfg.Profile(env.Profile)
	if err != nil {
		return r.hold(it, err, ExConfig, start)
	}
	r.waitForPace(ctx, p)
	c, err := r.conn(ctx, p)
	if err != nil {
		return r.failure(it, p, err, start)
	}
	f, err := it.Open()
	if err != nil {
		it.Release()
		return outcome{status: "deferred", err: fmt.Errorf("queue item %s: %v", env.ID, err), code: ExTempFail}
	}
	defer f.Close()
	// Exchange takes at most 500 recipients per message: more go in
	// several transactions of the same bytes.
	merged := &submit.Result{}
	rcpts := env.Recipients
	for i := 0; i < len(rcpts); i += MaxRecipientsPerTransaction {
		chunk := rcpts[i:min(i+MaxRecipientsPerTransaction, len(rcpts))]
		if i > 0 {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return r.failure(it, p, err, start)
			}
		}
		res, err := c.Send(submit.Envelope{
			From:      env.Sender,
			To:        chunk,
			Size:      env.Size,
			EightBit:  env.EightBit,
			SMTPUTF8:  env.SMTPUTF8,
			DSNNotify: env.DSNNotify,
			DSNRet:    env.DSNRet,
			EnvID:     env.EnvID,
		}, f)
		r.sent[p.Name] = append(r.sent[p.Name], r.env.Now())
		if err != nil {
			// The connection's state is unknown after a failed transaction.
			r.dropConn(p.Name)
			if i == 0 {
				return r.failure(it, p, err, start)
			}
			// Earlier transactions went through: only the rest waits.
			var se *submit.Error
			if !errors.As(err, &se) {
				se = &submit.Error{Stage: "data", Err: err, Temporary: true}
			}
			for _, rc := range rcpts[i:] {
				e := *se
				e.Rcpt = rc
				merged.Rejected = append(merged.Rejected, &e)
			}
			break
		}
		merged.Accepted = append(merged.Accepted, res.Accepted...)
		merged.Rejected = append(merged.Rejected, res.Rejected...)
		merged.Reply = res.Reply
	}
	return r.result(it, p, merged, start)
}

// MaxRecipientsPerTransaction is Exchange Online's recipient limit per
// message.
const MaxRecipientsPerTransaction = 500

// result records a transaction that reached the end of DATA, possibly with
// some recipients refused.
func (r *runner) result(it *queue.Item, p *config.Profile, res *submit.Result, start time.Time) outcome {
	env := it.Env
	if len(res.Accepted) > 0 {
		r.logAttempt(env, p, res.Accepted, start, "sent", res.Reply)
	}
	if len(res.Rejected) == 0 {
		if err := it.Done(); err != nil {
			r.log.Warn(fmt.Sprintf("id=%s delivered but not removed from the queue: %v", env.ID, err))
		}
		return outcome{status: "sent"}
	}
	env.Delivered = append(env.Delivered, res.Accepted...)
	var temp, perm []string
	var firstTemp, firstPerm error
	for _, e := range res.Rejected {
		r.logAttempt(env, p, []string{e.Rcpt}, start, statusOf(e.Temporary), e.Error())
		if e.Temporary {
			temp = append(temp, e.Rcpt)
			if firstTemp == nil {
				firstTemp = e
			}
		} else {
			perm = append(perm, e.Rcpt)
			if firstPerm == nil {
				firstPerm = e
			}
		}
	}
	if len(temp) > 0 {
		env.Recipients = temp
		r.reschedule(it, env, firstTemp)
		if firstPerm != nil {
			return outcome{status: "bounced", err: firstPerm, code: ExUnavailable}
		}
		return outcome{status: "deferred", err: firstTemp, code: ExTempFail}
	}
	env.Recipients = perm
	it.Update(env)
	it.Fail(firstPerm.Error())
	return outcome{status: "bounced", err: firstPerm, code: ExUnavailable}
}

func statusOf(temporary bool) string {
	if temporary {
		return "deferred"
	}
	return "bounced"
}

// failure records an attempt that delivered to nobody.
func (r *runner) failure(it *queue.Item, p *config.Profile, err error, start time.Time) outcome {
	var oe *oauth.Error
	var se *submit.Error
	var ce credentialError
	switch {
	case errors.As(err, &oe):
		if oe.Temporary {
			return r.defer1(it, p, err, start)
		}
		return r.hold(it, err, ExConfig, start)
	case errors.As(err, &ce):
		code := ExConfig
		if os.IsPermission(errors.Unwrap(ce.error)) {
			code = ExNoPerm
		}
		return r.hold(it, err, code, start)
	case errors.As(err, &se):
		if se.Temporary {
			return r.defer1(it, p, err, start)
		}
		r.logAttempt(it.Env, p, it.Env.Recipients, start, "bounced", err.Error())
		it.Fail(err.Error())
		return outcome{status: "bounced", err: err, code: ExUnavailable}
	}
	// Anything else (a local I/O problem, a cancelled context) is retried.
	return r.defer1(it, p, err, start)
}

func (r *runner) defer1(it *queue.Item, p *config.Profile, err error, start time.Time) outcome {
	env := it.Env
	next, gaveUp := r.reschedule(it, env, err)
	if gaveUp {
		r.logAttempt(env, p, env.Recipients, start, "bounced", fmt.Sprintf("%v; gave up after %s", err, r.cfg.Queue.MaxAge))
		return outcome{status: "bounced", err: fmt.Errorf("%v (gave up after %s; kept in failed/ as %s)", err, r.cfg.Queue.MaxAge, env.ID), code: ExUnavailable, cause: err}
	}
	r.logAttempt(env, p, env.Recipients, start, "deferred", fmt.Sprintf("%v; next try %s", err, next.Format("2006-01-02 15:04:05")))
	return outcome{status: "deferred", err: fmt.Errorf("%v (queued as %s, next try %s)", err, env.ID, next.Format("15:04:05")), code: ExTempFail, cause: err}
}

// reschedule counts the attempt and sets the next one; past max_age the item
// goes to failed/ and notify_to hears about it once.
func (r *runner) reschedule(it *queue.Item, env queue.Envelope, cause error) (next time.Time, gaveUp bool) {
	now := r.env.Now()
	env.Attempts++
	env.LastError = cause.Error()
	env.Held, env.HeldReason = false, ""
	if r.cfg.Queue.MaxAge > 0 && now.Sub(env.Created) > r.cfg.Queue.MaxAge {
		reason := fmt.Sprintf("gave up after %s and %d attempts: %v", r.cfg.Queue.MaxAge, env.Attempts, cause)
		it.Update(env)
		it.Fail(reason)
		r.notify(env, reason)
		return now, true
	}
	env.NextAttempt = queue.NextAttempt(r.cfg.Queue.Retry, env.Attempts, now)
	if err := it.Update(env); err != nil {
		r.log.Warn(fmt.Sprintf("id=%s: recording the attempt failed: %v", env.ID, err))
	}
	it.Release()
	return env.NextAttempt, false
}

// hold keeps the item without burning an attempt: the cause is a credential
// or configuration problem that waiting will not fix, and that an operator
// will. Each queue run tries one held item per profile to see whether the
// fix is in.
func (r *runner) hold(it *queue.Item, err error, code int, start time.Time) outcome {
	env := it.Env
	r.logAttempt(env, nil, env.Recipients, start, "held", err.Error())
	env.Held = true
	env.HeldReason = err.Error()
	env.LastError = err.Error()
	if uerr := it.Update(env); uerr != nil {
		r.log.Warn(fmt.Sprintf("id=%s: recording the hold failed: %v", env.ID, uerr))
	}
	it.Release()
	return outcome{status: "held", err: fmt.Errorf("%v (message held in the queue as %s; after the fix run `sendmail -q`)", err, env.ID), code: code, cause: err}
}

// notify queues one notice to queue.notify_to about an item that was given
// up. A notice is never noticed about, so a dead notify_to cannot loop.
func (r *runner) notify(env queue.Envelope, reason string) {
	if env.Notice || r.cfg.Queue.NotifyTo == "" {
		return
	}
	p, err := r.cfg.Profile(env.Profile)
	if err != nil {
		return
	}
	d, err := r.q.Create()
	if err != nil {
		r.log.Warn(fmt.Sprintf("cannot queue the failure notice for %s: %v", env.ID, err))
		return
	}
	now := r.env.Now()
	fmt.Fprintf(d, "From: oauth-sendmail <%s>\r\nTo: <%s>\r\nSubject: Undelivered mail %s\r\nDate: %s\r\nAuto-Submitted: auto-generated\r\n\r\n",
		p.Mailbox, r.cfg.Queue.NotifyTo, env.ID, now.Format(time.RFC1123Z))
	fmt.Fprintf(d, "oauth-sendmail gave up on a message.\r\n\r\nQueue id: %s\r\nSender: %s\r\nRecipients: %s\r\nReason: %s\r\n\r\nIt is kept in the failed queue: `oauth-sendmail queue show %s`, `queue retry %s`.\r\n",
		env.ID, env.Sender, strings.Join(env.Recipients, ", "), reason, env.ID, env.ID)
	id, err := d.Commit(queue.Envelope{Profile: p.Name, Sender: p.Mailbox, Recipients: []string{r.cfg.Queue.NotifyTo}, NextAttempt: now, Notice: true})
	if err != nil {
		r.log.Warn(fmt.Sprintf("cannot queue the failure notice for %s: %v", env.ID, err))
		return
	}
	r.notices = append(r.notices, id)
}

// waitForPace keeps a queue run under the profile's messages-per-minute
// limit instead of collecting Exchange's 4.3.2 throttling replies.
func (r *runner) waitForPace(ctx context.Context, p *config.Profile) {
	if !r.pace {
		return
	}
	limit := p.RatePerMinute
	if limit == 0 {
		limit = r.cfg.Queue.RatePerMinute
	}
	if limit <= 0 {
		return
	}
	sent := r.sent[p.Name]
	if len(sent) < limit {
		return
	}
	sent = sent[len(sent)-limit:]
	r.sent[p.Name] = sent
	wait := sent[0].Add(time.Minute).Sub(r.env.Now())
	if wait <= 0 {
		return
	}
	r.sleep(ctx, wait)
}

func (r *runner) logAttempt(env queue.Envelope, p *config.Profile, to []string, start time.Time, status, reply string) {
	relay := "none"
	if p != nil {
		relay = p.SMTP
	}
	r.log.Delivery(Attempt{
		ID:      env.ID,
		From:    env.Sender,
		To:      to,
		Profile: env.Profile,
		Relay:   relay,
		Delay:   r.env.Now().Sub(start),
		Status:  status,
		Reply:   reply,
	})
}

func nonEmpty(vals ...string) []string {
	var out []string
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, strings.ToUpper(f))
		}
	}
	return out
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

var _ io.Writer = (*queue.Draft)(nil)
