package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

func TestDoctorPasses(t *testing.T) {
	w := newWorld(t)
	r := w.Run("", "oauth-sendmail", "doctor", "--send-test", "me@fabrikam.test")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	for _, c := range []string{"config", "secret", "tcp", "tls", "token", "claims", "smtp", "send"} {
		if !strings.Contains(r.Stdout, "✓ "+c) {
			t.Errorf("no passing %s check:\n%s", c, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "✗") || strings.Contains(r.Stdout, "\033[") {
		t.Errorf("failure mark or colour codes (not a TTY):\n%s", r.Stdout)
	}
	if got := w.Exchange.Received(); len(got) != 1 || strings.Join(got[0].To, ",") != "me@fabrikam.test" {
		t.Errorf("test message: %+v", got)
	}
	checkNoSecret(t, w, r)
}

// doctorFails runs doctor and checks it stopped at layer with remedy.
func doctorFails(t *testing.T, w *harness.World, layer, remedy string, args ...string) {
	t.Helper()
	r := w.Run("", "oauth-sendmail", append([]string{"doctor"}, args...)...)
	if r.Code == 0 {
		t.Fatalf("doctor passed:\n%s", r.Stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var failed string
	for _, l := range lines {
		if strings.HasPrefix(l, "✗") {
			failed = l
		}
	}
	if !strings.HasPrefix(failed, "✗ "+layer) {
		t.Errorf("failed at %q, want layer %q:\n%s", failed, layer, r.Stdout)
	}
	if !strings.Contains(r.Stdout, remedy) {
		t.Errorf("remedy %q missing:\n%s", remedy, r.Stdout)
	}
	checkNoSecret(t, w, r)
}

func TestDoctorFindsTheBrokenLayer(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		w := newWorld(t)
		os.WriteFile(filepath.Join(w.Dir, "secret"), []byte("the-secret-ID-not-value"), 0o600)
		doctorFails(t, w, "token", "AADSTS7000215")
	})
	t.Run("no SMTP.SendAsApp", func(t *testing.T) {
		w := newWorld(t)
		w.Entra.AddSecretApp(harness.Tenant, "graph-app", w.Secret, "Mail.Send")
		cfg, _ := os.ReadFile(w.ConfigFile)
		os.WriteFile(w.ConfigFile, bytes.Replace(cfg, []byte(harness.ClientID), []byte("graph-app"), 1), 0o600)
		doctorFails(t, w, "claims", "SMTP.SendAsApp")
	})
	t.Run("SMTP AUTH disabled", func(t *testing.T) {
		w := newWorld(t)
		w.Exchange.Inject(fakeexo.Fault{Stage: "auth", Code: 535, Enhanced: "5.7.139", Text: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."})
		doctorFails(t, w, "smtp", "Set-CASMailbox")
	})
	t.Run("SendAsDenied", func(t *testing.T) {
		w := newWorld(t)
		w.Exchange.Inject(fakeexo.Fault{Stage: "data", Code: 554, Enhanced: "5.2.252", Text: "SendAsDenied; alerts@contoso.test not allowed to send as x@y"})
		doctorFails(t, w, "send", "from = \"rewrite\"", "--send-test", "me@fabrikam.test")
	})
	t.Run("expired certificate", func(t *testing.T) {
		w := newWorld(t)
		old, err := fakeexo.NewCA(-time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		x, err := fakeexo.NewExchange(old, func(string, string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		old.WriteCertFile(filepath.Join(w.Dir, "old-ca.pem"))
		cfg, _ := os.ReadFile(w.ConfigFile)
		cfg = bytes.Replace(cfg, []byte(w.Exchange.Addr), []byte(x.Addr), 1)
		cfg = bytes.Replace(cfg, []byte(filepath.Join(w.Dir, "ca.pem")), []byte(filepath.Join(w.Dir, "old-ca.pem")), 1)
		os.WriteFile(w.ConfigFile, cfg, 0o600)
		doctorFails(t, w, "tls", "expired")
	})
	t.Run("name does not resolve", func(t *testing.T) {
		w := newWorld(t)
		_, port, _ := strings.Cut(w.Exchange.Addr, ":")
		cfg, _ := os.ReadFile(w.ConfigFile)
		os.WriteFile(w.ConfigFile, bytes.Replace(cfg, []byte(w.Exchange.Addr), []byte("smtp.nowhere.test:"+port), 1), 0o600)
		doctorFails(t, w, "dns", "resolv.conf")
	})
	t.Run("port closed", func(t *testing.T) {
		w := newWorld(t)
		w.Exchange.Close()
		doctorFails(t, w, "tcp", "firewall")
	})
	t.Run("secret readable by others", func(t *testing.T) {
		w := newWorld(t)
		os.Chmod(filepath.Join(w.Dir, "secret"), 0o644)
		doctorFails(t, w, "secret", "chmod 0640")
	})
}

func TestDoctorJSON(t *testing.T) {
	w := newWorld(t)
	w.Exchange.Inject(fakeexo.Fault{Stage: "auth", Code: 535, Enhanced: "5.7.139", Text: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."})
	r := w.Run("", "oauth-sendmail", "doctor", "--json")
	var out struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Check string `json:"check"`
			OK    bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.Stdout)
	}
	last := out.Checks[len(out.Checks)-1]
	if out.OK || r.Code == 0 || last.Check != "smtp" || last.OK {
		t.Errorf("%+v exit %d", out, r.Code)
	}
}

func TestTestCommand(t *testing.T) {
	w := newWorld(t)
	r := w.Run("", "oauth-sendmail", "test", "--to", "me@fabrikam.test")
	if r.Code != 0 || !strings.Contains(r.Stdout, "250 2.0.0 OK <FAKE") {
		t.Fatalf("%s", r)
	}
}

// Logs: one line per attempt with every field; -v shows the dialogue but
// neither the token nor the base64 XOAUTH2 payload.
func TestLogLineAndVerboseRedaction(t *testing.T) {
	w := newWorld(t)
	r := w.Run("Subject: log\n\nx\n", "sendmail", "-v", "-v", "ops@contoso.test")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	lines := strings.Split(strings.TrimSpace(w.Log()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for one delivery:\n%s", len(lines), w.Log())
	}
	for _, field := range []string{"id=", "from=<alerts@contoso.test>", "to=<ops@contoso.test>", "profile=alerts", "relay=" + w.Exchange.Addr, "delay=", "status=sent", "(250 2.0.0 OK"} {
		if !strings.Contains(lines[0], field) {
			t.Errorf("log line lacks %q: %s", field, lines[0])
		}
	}
	if !strings.Contains(r.Stderr, "AUTH XOAUTH2 [token redacted]") || !strings.Contains(r.Stderr, "MAIL FROM:<alerts@contoso.test>") {
		t.Errorf("-v does not show the dialogue:\n%s", r.Stderr)
	}
	tok := w.Run("", "oauth-sendmail", "token").Stdout
	tok = strings.TrimSpace(tok)
	payload := w.Run("", "oauth-sendmail", "token", "--format", "xoauth2").Stdout
	payload = strings.TrimSpace(payload)
	if tok == "" || payload == "" {
		t.Fatal("no token to look for")
	}
	for _, secret := range []string{tok, payload, tok[len(tok)-20:], payload[:40]} {
		if strings.Contains(r.Stderr+r.Stdout+w.Log(), secret) {
			t.Errorf("-v output or log contains the token or the XOAUTH2 payload")
		}
	}
}

// setup on a terminal asks for what is missing; `script` gives it a pty.
func TestSetupInteractive(t *testing.T) {
	need(t, "script")
	w := newWorld(t)
	cfg := filepath.Join(w.Dir, "interactive.toml")
	cmd := exec.Command("script", "-qec", filepath.Join(w.Bin, "oauth-sendmail")+" setup -C "+cfg, "/dev/null")
	cmd.Env = w.Env()
	cmd.Stdin = strings.NewReader("contoso.onmicrosoft.com\nabc-id\nalerts@contoso.com\nsecret\nTyped-Secret-Value\n\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, prompt := range []string{"Tenant", "Application (client) ID", "Mailbox", "Client secret Value (not the Secret ID; not shown)", "Profile name [alerts]"} {
		if !strings.Contains(string(out), prompt) {
			t.Errorf("no prompt %q:\n%s", prompt, out)
		}
	}
	r := w.Run("", "oauth-sendmail", "config", "check", "-C", cfg)
	if r.Code != 0 {
		t.Fatalf("the written configuration: %s", r)
	}
	b, _ := os.ReadFile(filepath.Join(w.Dir, "alerts.secret"))
	if strings.TrimSpace(string(b)) != "Typed-Secret-Value" {
		t.Errorf("secret file %q", b)
	}
}
