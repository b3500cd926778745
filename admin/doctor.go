package admin

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/sendmail"
	"github.com/oauth-sendmail/oauth-sendmail/submit"
)

// check is one layer doctor looked at.
type check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Remedy string `json:"remedy,omitempty"`
}

type report struct {
	checks []check
	w      io.Writer
	json   bool
	color  bool
}

func (r *report) add(c check) {
	r.checks = append(r.checks, c)
	if r.json {
		return
	}
	mark, reset := "✓", ""
	if !c.OK {
		mark = "✗"
	}
	if r.color {
		if c.OK {
			mark, reset = "\033[32m✓", "\033[0m"
		} else {
			mark, reset = "\033[31m✗", "\033[0m"
		}
	}
	fmt.Fprintf(r.w, "%s%s %-12s %s\n", mark, reset, c.Name, c.Detail)
	if c.Remedy != "" {
		fmt.Fprintf(r.w, "  fix: %s\n", c.Remedy)
	}
}

func (r *report) pass(name, format string, args ...any) {
	r.add(check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

// fail records a broken layer; doctor stops there.
func (r *report) fail(name, detail, remedy string) error {
	r.add(check{Name: name, Detail: detail, Remedy: remedy})
	return errStop
}

var errStop = errors.New("stop")

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// cmdDoctor checks every layer between this machine and a delivered
// message, in order, and stops at the first broken one with its fix.
func cmdDoctor(ctx context.Context, args []string, env sendmail.Env) error {
	f := newFlags("doctor", env)
	sendTest := f.String("send-test", "", "also send a test message to this address")
	asJSON := f.Bool("json", false, "machine-readable output")
	if err := f.parse(args); err != nil {
		return err
	}
	r := &report{w: env.Stdout, json: *asJSON, color: !*asJSON && isTTY(env.Stdout) && env.Getenv("NO_COLOR") == ""}
	err := runDoctor(ctx, f, env, r, *sendTest)
	if r.json {
		json.NewEncoder(env.Stdout).Encode(map[string]any{"ok": err == nil, "checks": r.checks})
	}
	if err != nil {
		code := sendmail.ExUnavailable
		if last := r.checks[len(r.checks)-1]; last.Name == "config" || last.Name == "secret" || last.Name == "expiry" {
			code = sendmail.ExConfig
		}
		return &sendmail.ExitError{Code: code, Err: fmt.Errorf("a check failed: %s", r.checks[len(r.checks)-1].Name)}
	}
	return nil
}

func runDoctor(ctx context.Context, f *flags, env sendmail.Env, r *report, sendTest string) error {
	quiet := env
	quiet.Stderr = io.Discard
	cfg, err := sendmail.LoadConfig(f.configFile, quiet)
	if err != nil {
		return r.fail("config", err.Error(), "")
	}
	p, err := f.chooseProfile(cfg)
	if err != nil {
		return r.fail("config", err.Error(), "")
	}
	r.pass("config", "%s: profile %q sends as %s (auth %s)", cfg.File, p.Name, p.Mailbox, p.Auth)

	// Files holding secrets.
	switch p.Auth {
	case "client_secret":
		if _, err := p.Secret(); err != nil {
			return r.fail("secret", err.Error(), "")
		}
		r.pass("secret", "%s readable, not readable by others", firstNonEmpty(p.ClientSecretFile, "inline client_secret"))
	case "client_certificate":
		for _, file := range []string{p.CertificateFile, p.KeyFile} {
			if file == "" {
				continue
			}
			fi, err := os.Stat(file)
			if err != nil {
				return r.fail("secret", err.Error(), "")
			}
			if fi.Mode().Perm()&0o007 != 0 && (file == p.KeyFile || p.KeyFile == "") {
				return r.fail("secret", file+" (the private key) can be read by other users", "chmod 0640 "+file)
			}
		}
		r.pass("secret", "certificate %s", p.CertificateFile)
	}
	if exp := p.ClientSecretExpires; !exp.IsZero() && p.Auth == "client_secret" {
		left := time.Until(exp)
		switch {
		case left < 0:
			return r.fail("expiry", "the client secret expired on "+exp.Format("2006-01-02"), "create a new secret in Entra ID (App registrations > Certificates & secrets), put its Value in the secret file and update client_secret_expires")
		case left < 30*24*time.Hour:
			r.pass("expiry", "the client secret expires on %s — in %d days: renew it soon", exp.Format("2006-01-02"), int(left.Hours()/24)+1)
		default:
			r.pass("expiry", "the client secret is valid until %s", exp.Format("2006-01-02"))
		}
	}

	// Network: DNS and TCP for both ends.
	au, err := url.Parse(p.Authority)
	if err != nil || au.Host == "" {
		return r.fail("config", "authority "+p.Authority+" is not a URL", "")
	}
	authAddr := au.Host
	if au.Port() == "" {
		authAddr = net.JoinHostPort(au.Hostname(), "443")
	}
	for _, addr := range []string{p.SMTP, authAddr} {
		host, _, _ := net.SplitHostPort(addr)
		if net.ParseIP(host) == nil {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ips, err := net.DefaultResolver.LookupHost(lctx, host)
			cancel()
			if err != nil {
				return r.fail("dns", fmt.Sprintf("%s: %v", host, err), "check /etc/resolv.conf and that this machine may resolve public names")
			}
			r.pass("dns", "%s → %s", host, strings.Join(ips, ", "))
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return r.fail("tcp", fmt.Sprintf("%s: %v", addr, err), "a firewall or proxy blocks the connection: outbound TCP "+addr+" must be open (port 587 for SMTP submission, 443 for Entra ID)")
		}
		c.Close()
		r.pass("tcp", "%s reachable", addr)
	}

	// TLS on both ends.
	pool, err := sendmail.RootCAs(p.CAFile)
	if err != nil {
		return r.fail("tls", "ca_file: "+err.Error(), "")
	}
	o := submit.Options{Addr: p.SMTP, RootCAs: pool, Hostname: cfg.Hostname, Mailbox: p.Mailbox, Timeout: 30 * time.Second}
	probe, err := submit.ProbeServer(ctx, o)
	if err != nil {
		return r.fail("tls", err.Error(), "")
	}
	r.pass("tls", "%s: STARTTLS, %s, certificate %q valid until %s", p.SMTP, probe.TLSVersion, probe.PeerName, probe.NotAfter.Format("2006-01-02"))
	if !contains(probe.AuthMechs, "XOAUTH2") {
		return r.fail("smtp", fmt.Sprintf("%s offers AUTH %s, not XOAUTH2", p.SMTP, strings.Join(probe.AuthMechs, " ")), "SMTP AUTH is disabled: Set-CASMailbox -Identity "+p.Mailbox+" -SmtpClientAuthenticationDisabled $false")
	}
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", authAddr, &tls.Config{RootCAs: pool, ServerName: au.Hostname(), MinVersion: tls.VersionTLS12})
	if err != nil {
		return r.fail("tls", fmt.Sprintf("%s: %v", authAddr, err), "the token endpoint's certificate is not trusted: check the clock, and add a TLS-inspecting proxy's CA with ca_file")
	}
	r.pass("tls", "%s: %s", authAddr, tls.VersionName(tc.ConnectionState().Version))
	tc.Close()

	// The token and what it says.
	src, err := sendmail.TokenSource(cfg, p, nil)
	if err != nil {
		return r.fail("token", err.Error(), "")
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return r.fail("token", err.Error(), "")
	}
	r.pass("token", "acquired, valid until %s (%s)", tok.ExpiresOn.Local().Format("15:04:05"), cacheWord(tok.FromCache))
	if err := checkClaims(r, p, tok.AccessToken); err != nil {
		return err
	}

	// SMTP AUTH with the token.
	conn, err := submit.Dial(ctx, o, sendmail.SubmitTokens(src))
	if err != nil {
		return r.fail("smtp", err.Error(), "")
	}
	defer conn.Close()
	r.pass("smtp", "AUTH XOAUTH2 accepted for %s", p.Mailbox)

	if sendTest == "" {
		return nil
	}
	res, err := sendTestMessage(conn, cfg, p, sendTest)
	if err != nil {
		return r.fail("send", err.Error(), "")
	}
	r.pass("send", "test message to %s accepted: %s", sendTest, res.Reply)
	return nil
}

func cacheWord(fromCache bool) string {
	if fromCache {
		return "from the cache"
	}
	return "from Entra ID"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// guid is compiled on first use: every sendmail run pays for package
// initialisation, and only doctor needs it.
var guid = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// checkClaims decodes (without verifying: Exchange does that) the access
// token and checks what Exchange will look at.
func checkClaims(r *report, p *config.Profile, token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		r.pass("claims", "the token is not a JWT: claims not checked")
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		r.pass("claims", "the token's claims do not decode: not checked")
		return nil
	}
	var c struct {
		Aud   string   `json:"aud"`
		Tid   string   `json:"tid"`
		Roles []string `json:"roles"`
		Scp   string   `json:"scp"`
		Exp   int64    `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		r.pass("claims", "the token's claims do not decode: not checked")
		return nil
	}
	if want := strings.TrimSuffix(strings.TrimSuffix(p.Scopes[0], "/.default"), "/SMTP.Send"); c.Aud != "" && !strings.EqualFold(strings.TrimSuffix(c.Aud, "/"), want) && !guid().MatchString(c.Aud) {
		return r.fail("claims", fmt.Sprintf("token audience %q, Exchange needs %q", c.Aud, want), "the scope is wrong: app-only profiles use https://outlook.office365.com/.default (not Microsoft Graph)")
	}
	if (guid().MatchString(p.Tenant) || !guid().MatchString(c.Tid)) && c.Tid != "" && !strings.EqualFold(c.Tid, p.Tenant) {
		return r.fail("claims", fmt.Sprintf("token tenant %s, profile tenant %s", c.Tid, p.Tenant), "set tenant to the directory the mailbox belongs to")
	}
	if p.Auth == "device_code" {
		if !contains(strings.Fields(c.Scp), "SMTP.Send") {
			return r.fail("claims", fmt.Sprintf("delegated token without SMTP.Send (scp %q)", c.Scp), "add the delegated permission SMTP.Send (Microsoft Graph or Office 365 Exchange Online) to the app, then run `oauth-sendmail login --profile "+p.Name+"` again")
		}
		r.pass("claims", "aud %s, scp %s, %s left", c.Aud, c.Scp, time.Until(time.Unix(c.Exp, 0)).Round(time.Minute))
		return nil
	}
	if !contains(c.Roles, "SMTP.SendAsApp") {
		return r.fail("claims", fmt.Sprintf("the token has no SMTP.SendAsApp role (roles %v)", c.Roles),
			"in Entra ID: App registrations > your app > API permissions > Add > APIs my organization uses > Office 365 Exchange Online > Application permissions > SMTP.SendAsApp, then Grant admin consent (or use RBAC for Applications: oauth-sendmail setup prints both)")
	}
	r.pass("claims", "aud %s, roles %s, tenant %s, %s left", c.Aud, strings.Join(c.Roles, " "), c.Tid, time.Until(time.Unix(c.Exp, 0)).Round(time.Minute))
	return nil
}

// sendTestMessage sends a short message from the profile's mailbox on conn.
func sendTestMessage(conn *submit.Conn, cfg *config.Config, p *config.Profile, to string) (*submit.Result, error) {
	now := time.Now()
	msg := fmt.Sprintf("From: oauth-sendmail <%s>\r\nTo: <%s>\r\nSubject: oauth-sendmail test from %s\r\nDate: %s\r\nMessage-ID: <test.%d@%s>\r\n\r\nThis is a test message from oauth-sendmail on %s, profile %s.\r\n",
		p.Mailbox, to, cfg.Hostname, now.Format(time.RFC1123Z), now.UnixNano(), cfg.Hostname, cfg.Hostname, p.Name)
	res, err := conn.Send(submit.Envelope{From: p.Mailbox, To: []string{to}, Size: int64(len(msg))}, strings.NewReader(msg))
	if err != nil {
		return nil, err
	}
	if len(res.Rejected) > 0 {
		return nil, res.Rejected[0]
	}
	return res, nil
}

// cmdTest sends a short test message through the profile and reports the
// server's reply (it carries Exchange's queue id).
func cmdTest(ctx context.Context, args []string, env sendmail.Env) error {
	f := newFlags("test", env)
	to := f.String("to", "", "recipient")
	if err := f.parse(args); err != nil {
		return err
	}
	if *to == "" || strings.ContainsAny(*to, "\r\n<> ") {
		return exit(sendmail.ExUsage, "usage: oauth-sendmail test --to ADDR [--profile P]")
	}
	cfg, p, err := f.loadProfile(env)
	if err != nil {
		return err
	}
	src, err := tokenSource(cfg, p, env)
	if err != nil {
		return err
	}
	pool, err := sendmail.RootCAs(p.CAFile)
	if err != nil {
		return exit(sendmail.ExConfig, "ca_file: %v", err)
	}
	conn, err := submit.Dial(ctx, submit.Options{Addr: p.SMTP, RootCAs: pool, Hostname: cfg.Hostname, Mailbox: p.Mailbox}, sendmail.SubmitTokens(src))
	if err != nil {
		return sendmail.DeliveryExitError(err)
	}
	defer conn.Close()
	res, err := sendTestMessage(conn, cfg, p, *to)
	if err != nil {
		return sendmail.DeliveryExitError(err)
	}
	fmt.Fprintf(env.Stdout, "sent from %s to %s: %s\n", p.Mailbox, *to, res.Reply)
	return nil
}
