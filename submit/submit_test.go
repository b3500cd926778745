package submit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
)

const mailbox = "alerts@contoso.test"

// tokens is a TokenSource: Token returns first, Refresh returns fresh.
type tokens struct {
	mu        sync.Mutex
	first     string
	fresh     string
	refreshes int
}

func (t *tokens) Token(context.Context) (string, error) { return t.first, nil }
func (t *tokens) Refresh(_ context.Context, stale string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshes++
	return t.fresh, nil
}

type world struct {
	ca  *fakeexo.CA
	exo *fakeexo.Exchange
}

const goodToken = "good-token-0123456789"

func newWorld(t *testing.T, opts ...fakeexo.ExchangeOption) *world {
	t.Helper()
	ca, err := fakeexo.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	x, err := fakeexo.NewExchange(ca, func(user, token string) error {
		if user == mailbox && token == goodToken {
			return nil
		}
		return errors.New("bad token")
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return &world{ca: ca, exo: x}
}

func (w *world) options() Options {
	return Options{Addr: w.exo.Addr, RootCAs: w.ca.Pool, Hostname: "web01.contoso.test", Mailbox: mailbox, Timeout: 10 * time.Second}
}

const msg = "From: Alerts <alerts@contoso.test>\r\nTo: a@x.test\r\nSubject: t\r\n\r\nbody\r\n"

func env(to ...string) Envelope { return Envelope{From: mailbox, To: to, Size: int64(len(msg))} }

func TestSendAndReuse(t *testing.T) {
	w := newWorld(t)
	var debug bytes.Buffer
	o := w.options()
	o.Debug = &debug
	c, err := Dial(context.Background(), o, &tokens{first: goodToken})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		res, err := c.Send(env("a@x.test", "b@y.test"), strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res.Reply, "250 ") || len(res.Accepted) != 2 || len(res.Rejected) != 0 {
			t.Errorf("result %+v", res)
		}
	}
	c.Close()
	got := w.exo.Received()
	if len(got) != 3 || got[0].User != mailbox || string(got[0].Data) != msg {
		t.Fatalf("received %+v", got)
	}
	if w.exo.Connections() != 1 {
		t.Errorf("%d connections for 3 messages, want 1", w.exo.Connections())
	}
	d := debug.String()
	if strings.Contains(d, goodToken) || strings.Contains(d, "Z29vZC10b2tlbi") || !strings.Contains(d, "AUTH XOAUTH2 [token redacted]") {
		t.Errorf("debug output leaks or lacks the redacted AUTH:\n%s", d)
	}
}

func TestRefusesWithoutStartTLS(t *testing.T) {
	w := newWorld(t, fakeexo.WithoutStartTLS())
	_, err := Dial(context.Background(), w.options(), &tokens{first: goodToken})
	var se *Error
	if !errors.As(err, &se) || se.Stage != "tls" || se.Temporary || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("err = %v", err)
	}
	if w.exo.AuthAttempts() != 0 {
		t.Error("AUTH was sent without TLS")
	}
}

func TestRefusesUntrustedCertificate(t *testing.T) {
	w := newWorld(t)
	o := w.options()
	o.RootCAs = nil // system roots do not know the test CA
	_, err := Dial(context.Background(), o, &tokens{first: goodToken})
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("err = %v", err)
	}
	if w.exo.AuthAttempts() != 0 {
		t.Error("AUTH was sent over an unverified connection")
	}
}

func TestStaleTokenRefreshedOnce(t *testing.T) {
	w := newWorld(t)
	ts := &tokens{first: "revoked-token", fresh: goodToken}
	c, err := Dial(context.Background(), w.options(), ts)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ts.refreshes != 1 {
		t.Errorf("%d refreshes, want 1", ts.refreshes)
	}
	ts = &tokens{first: "bad", fresh: "still-bad"}
	_, err = Dial(context.Background(), w.options(), ts)
	var se *Error
	if !errors.As(err, &se) || se.Code != 535 || se.Temporary || ts.refreshes != 1 {
		t.Errorf("two bad tokens: %v (refreshes %d)", err, ts.refreshes)
	}
	if !strings.Contains(err.Error(), "FullAccess") {
		t.Errorf("no remedy: %v", err)
	}
}

func TestSMTPAuthDisabled(t *testing.T) {
	w := newWorld(t)
	w.exo.Inject(fakeexo.Fault{Stage: "auth", Code: 535, Enhanced: "5.7.139", Text: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."})
	ts := &tokens{first: goodToken}
	_, err := Dial(context.Background(), w.options(), ts)
	if err == nil || !strings.Contains(err.Error(), "Set-CASMailbox") || ts.refreshes != 0 {
		t.Errorf("err %v refreshes %d", err, ts.refreshes)
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     fakeexo.Fault
		temporary bool
		remedy    string
	}{
		{"throttled at MAIL", fakeexo.Fault{Stage: "mail", Code: 432, Enhanced: "4.3.2", Text: "STOREDRV.ClientSubmit; sender thread limit exceeded"}, true, "throttled"},
		{"451 at end of DATA", fakeexo.Fault{Stage: "data", Code: 451, Enhanced: "4.7.0", Text: "Temporary server error"}, true, "retried"},
		{"dropped mid-DATA", fakeexo.Fault{Stage: "drop-mid-data"}, true, ""},
		{"mailbox full", fakeexo.Fault{Stage: "data", Code: 554, Enhanced: "5.2.2", Text: "mailbox full; STOREDRV.Submission.Exception:QuotaExceededException"}, false, "full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.exo.Inject(tc.fault)
			_, err := Send(context.Background(), w.options(), &tokens{first: goodToken}, env("a@x.test"), strings.NewReader(msg))
			var se *Error
			if !errors.As(err, &se) || se.Temporary != tc.temporary || !strings.Contains(err.Error(), tc.remedy) {
				t.Errorf("err = %v (temporary %v)", err, se != nil && se.Temporary)
			}
			if len(w.exo.Received()) != 0 {
				t.Error("message accepted despite the fault")
			}
		})
	}
}

func TestSendAsDeniedAtEndOfData(t *testing.T) {
	w := newWorld(t)
	other := strings.Replace(msg, "alerts@contoso.test", "ceo@contoso.test", 1)
	_, err := Send(context.Background(), w.options(), &tokens{first: goodToken}, env("a@x.test"), strings.NewReader(other))
	var se *Error
	if !errors.As(err, &se) || se.Stage != "data" || se.Enhanced != "5.2.252" || se.Temporary || !strings.Contains(err.Error(), "rewrite") {
		t.Fatalf("err = %v", err)
	}
	w.exo.AllowSendAs(mailbox, "ceo@contoso.test")
	if _, err := Send(context.Background(), w.options(), &tokens{first: goodToken}, env("a@x.test"), strings.NewReader(other)); err != nil {
		t.Errorf("with SendAs granted: %v", err)
	}
}

func TestPartialRecipients(t *testing.T) {
	w := newWorld(t)
	w.exo.Inject(fakeexo.Fault{Stage: "rcpt", Rcpt: "gone@x.test", Code: 550, Enhanced: "5.1.10", Text: "RESOLVER.ADR.RecipientNotFound"})
	w.exo.Inject(fakeexo.Fault{Stage: "rcpt", Rcpt: "busy@x.test", Code: 452, Enhanced: "4.5.3", Text: "Too many recipients"})
	res, err := Send(context.Background(), w.options(), &tokens{first: goodToken}, env("a@x.test", "gone@x.test", "busy@x.test"), strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Accepted, ",") != "a@x.test" || len(res.Rejected) != 2 {
		t.Fatalf("%+v", res)
	}
	if res.Rejected[0].Rcpt != "gone@x.test" || res.Rejected[0].Temporary || !res.Rejected[1].Temporary {
		t.Errorf("classes: %+v %+v", res.Rejected[0], res.Rejected[1])
	}
	got := w.exo.Received()
	if len(got) != 1 || strings.Join(got[0].To, ",") != "a@x.test" {
		t.Errorf("received %+v", got)
	}
}

func TestEightBitAndDSN(t *testing.T) {
	w := newWorld(t)
	e := env("a@x.test")
	e.EightBit, e.DSNNotify, e.DSNRet, e.EnvID = true, []string{"FAILURE", "DELAY"}, "HDRS", "env-1"
	if _, err := Send(context.Background(), w.options(), &tokens{first: goodToken}, e, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	r := w.exo.Received()[0]
	if !r.Body8Bit || r.DSN["RET"] != "HDRS" || r.DSN["ENVID"] != "env-1" || r.DSN["NOTIFY"] != "FAILURE,DELAY" {
		t.Errorf("%+v", r)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code      int
		enh, text string
		temporary bool
		remedy    string
	}{
		{535, "5.7.3", "Authentication unsuccessful", false, "New-ServicePrincipal"},
		{535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", false, "Set-CASMailbox"},
		{535, "5.7.139", "Authentication unsuccessful, the user credentials were incorrect or did not meet the criteria", false, "Conditional Access"},
		{550, "5.7.60", "SMTP; Client does not have permissions to send as this sender", false, "SendAs"},
		{554, "5.2.0", "STOREDRV.Submission.Exception:SubmissionQuotaExceededException", true, "10,000"},
		{550, "5.5.3", "RESOLVER.ADR.RecipLimit", false, "500"},
		{421, "4.3.2", "Service not available", true, "retried"},
		{499, "", "whatever", true, "retried"},
		{599, "", "whatever", false, ""},
	} {
		temp, remedy := Classify(tc.code, tc.enh, tc.text)
		if temp != tc.temporary || !strings.Contains(remedy, tc.remedy) {
			t.Errorf("%d %s %q → %v %q", tc.code, tc.enh, tc.text, temp, remedy)
		}
	}
}

// A certificate for another name is refused even from a trusted CA; there
// is no option to skip verification.
func TestRefusesNameMismatch(t *testing.T) {
	ca, err := fakeexo.NewCAFor(time.Hour, "smtp.other.test")
	if err != nil {
		t.Fatal(err)
	}
	x, err := fakeexo.NewExchange(ca, func(string, string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	_, err = Dial(context.Background(), Options{Addr: x.Addr, RootCAs: ca.Pool, Hostname: "h", Mailbox: mailbox, Timeout: 5 * time.Second}, &tokens{first: goodToken})
	var se *Error
	if !errors.As(err, &se) || se.Stage != "tls" || !strings.Contains(err.Error(), "not for 127.0.0.1") {
		t.Fatalf("err = %v", err)
	}
	if x.AuthAttempts() != 0 {
		t.Error("AUTH sent to a server with the wrong name")
	}
}
