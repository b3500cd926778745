package admin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/sendmail"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func testEnv(dir string, stdin string) (sendmail.Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return sendmail.Env{
		Stdin:   strings.NewReader(stdin),
		Stdout:  &out,
		Stderr:  &errb,
		Getenv:  func(k string) string { return map[string]string{"HOME": dir}[k] },
		Now:     time.Now,
		User:    "tester",
		Trusted: true,
	}, &out, &errb
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./admin -update to accept):\n%s", path, got)
	}
}

func TestSetupWritesProfileAndSteps(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.toml")
	env, out, errb := testEnv(dir, "s3cr3t-Value~x\n")
	code := Main([]string{"setup", "-C", cfgFile, "--tenant", "contoso.onmicrosoft.com", "--client-id", "6731de76-14a6-49ae-97bc-6eba6914391e",
		"--mailbox", "alerts@contoso.com", "--secret-stdin", "--yes"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	golden(t, "setup-app.golden", strings.ReplaceAll(out.String(), dir, "<DIR>"))
	if strings.Contains(out.String(), "s3cr3t") {
		t.Error("the secret was printed")
	}
	c, err := config.Load(cfgFile)
	if err != nil {
		t.Fatalf("config check would fail: %v", err)
	}
	p := c.Profiles["alerts"]
	if p == nil || p.Mailbox != "alerts@contoso.com" || c.DefaultProfile != "alerts" {
		t.Fatalf("profile %+v", p)
	}
	if s, err := p.Secret(); err != nil || s != "s3cr3t-Value~x" {
		t.Errorf("secret %q %v", s, err)
	}
	for _, f := range []string{cfgFile, p.ClientSecretFile} {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	env, out, _ = testEnv(dir, "")
	if Main([]string{"config", "check", "-C", cfgFile}, env) != 0 || !strings.Contains(out.String(), "ok") {
		t.Errorf("config check: %s", out)
	}
}

func TestSetupKeepsCommentsAndOtherProfiles(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.toml")
	orig := `# my notes: do not lose me
default_profile = "web"

[profile.web]  # the web shop
mailbox = "web@contoso.com"
tenant = "contoso.com"
client_id = "old-id"
client_secret_file = "/etc/web.secret"
# keep this comment too

[profile.other]
mailbox = "other@contoso.com"
tenant = "contoso.com"
client_id = "x"
client_secret = "inline"
`
	os.WriteFile(cfgFile, []byte(orig), 0o600)
	env, out, errb := testEnv(dir, "")
	certFile := filepath.Join(dir, "web.pem")
	code := Main([]string{"setup", "-C", cfgFile, "--profile", "web", "--tenant", "contoso.com", "--client-id", "new-id",
		"--mailbox", "web@contoso.com", "--certificate", certFile, "--yes"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	b, _ := os.ReadFile(cfgFile)
	got := string(b)
	for _, keep := range []string{"# my notes: do not lose me", "[profile.web]  # the web shop", "# keep this comment too", "[profile.other]", `client_secret = "inline"`} {
		if !strings.Contains(got, keep) {
			t.Errorf("lost %q:\n%s", keep, got)
		}
	}
	if !strings.Contains(got, `client_id = "new-id"`) || strings.Contains(got, "old-id") || !strings.Contains(got, `certificate_file = "`+certFile+`"`) {
		t.Errorf("not updated:\n%s", got)
	}
	if !strings.Contains(out.String(), "client_id changed") || !strings.Contains(out.String(), "certificate_file added") {
		t.Errorf("changes not reported:\n%s", out)
	}
	if _, err := config.Load(cfgFile); err != nil {
		t.Error(err)
	}
}

func TestSetupDelegatedSteps(t *testing.T) {
	dir := t.TempDir()
	env, out, errb := testEnv(dir, "")
	code := Main([]string{"setup", "-C", filepath.Join(dir, "c.toml"), "--tenant", "contoso.com", "--client-id", "pub-id",
		"--mailbox", "jane@contoso.com", "--device-code", "--yes"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	s := out.String()
	if !strings.Contains(s, "SMTP.Send") || !strings.Contains(s, "oauth-sendmail login --profile jane") || strings.Contains(s, "New-ServicePrincipal") {
		t.Errorf("delegated steps:\n%s", s)
	}
}

func TestSetupRefusesIncompleteInput(t *testing.T) {
	dir := t.TempDir()
	env, _, errb := testEnv(dir, "")
	if code := Main([]string{"setup", "-C", filepath.Join(dir, "c.toml"), "--tenant", "t", "--yes"}, env); code != sendmail.ExUsage || !strings.Contains(errb.String(), "--client-id") {
		t.Errorf("exit %d: %s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.toml")); err == nil {
		t.Error("wrote a configuration from incomplete input")
	}
}
