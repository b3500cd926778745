package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const base = `default_profile = "alerts"
hostname = "web01.contoso.test"

[aliases]
root = "ops@contoso.test"
www-data = ["web@contoso.test", "root"]
admin = "root"

[profile.alerts]
mailbox = "alerts@contoso.test"
senders = ["root", "*@app.contoso.test"]
tenant = "contoso.test"
client_id = "id-1"
client_secret = "inline"

[profile.billing]
mailbox = "billing@contoso.test"
tenant = "contoso.test"
client_id = "id-2"
client_secret = "inline2"
cloud = "usgov"
max_message_size = "10MB"
`

func load(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return parse("/tmp/test.toml", text, func(k string) string {
		return map[string]string{"HOME": "/home/u"}[k]
	})
}

func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := load(t, text)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultsAndClouds(t *testing.T) {
	c := mustLoad(t, base)
	a := c.Profiles["alerts"]
	if a.SMTP != "smtp.office365.com:587" || a.Authority != "https://login.microsoftonline.com/" ||
		a.Scopes[0] != "https://outlook.office365.com/.default" || a.Auth != "client_secret" || a.From != "rewrite" ||
		a.MaxMessageSize != 35<<20 {
		t.Errorf("alerts defaults: %+v", a)
	}
	b := c.Profiles["billing"]
	if b.SMTP != "outlook.office365.us:587" || b.Authority != "https://login.microsoftonline.us/" || b.MaxMessageSize != 10<<20 {
		t.Errorf("billing (usgov): %+v", b)
	}
	if c.CacheDir != "/home/u/.cache/oauth-sendmail" || c.Queue.Dir != "/home/u/.local/state/oauth-sendmail/queue" {
		t.Errorf("user dirs: %q %q", c.CacheDir, c.Queue.Dir)
	}
	if c.Queue.MaxAge != 5*24*time.Hour || len(c.Queue.Retry) != 4 || c.Queue.RatePerMinute != 30 || c.Log != "syslog" {
		t.Errorf("queue defaults: %+v log %q", c.Queue, c.Log)
	}
	d := mustLoad(t, base+"[profile.me]\nmailbox=\"me@contoso.test\"\ntenant=\"t\"\nclient_id=\"c\"\nauth=\"device_code\"\ncloud=\"china\"\n")
	if s := d.Profiles["me"].Scopes[0]; s != "https://partner.outlook.cn/SMTP.Send" {
		t.Errorf("delegated china scope %q", s)
	}
}

func TestSystemDefaults(t *testing.T) {
	c, err := parse("/etc/oauth-sendmail/config.toml", base, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !c.System || c.CacheDir != "/var/cache/oauth-sendmail" || c.Queue.Dir != "/var/spool/oauth-sendmail" {
		t.Errorf("system: %v %q %q", c.System, c.CacheDir, c.Queue.Dir)
	}
}

func TestQueueDurations(t *testing.T) {
	c := mustLoad(t, base+"[queue]\nretry = [\"90s\", \"36h\", \"2d\"]\nmax_age = \"5d\"\nnotify_to = \"ops@contoso.test\"\nrate_per_minute = 0\n")
	want := []time.Duration{90 * time.Second, 36 * time.Hour, 48 * time.Hour}
	for i, d := range want {
		if c.Queue.Retry[i] != d {
			t.Errorf("retry[%d] = %v, want %v", i, c.Queue.Retry[i], d)
		}
	}
	if c.Queue.MaxAge != 120*time.Hour || c.Queue.RatePerMinute != 0 {
		t.Errorf("%+v", c.Queue)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
		line             int
	}{
		{"unknown key", base + "cliend_id = \"x\"\n", `unknown key "profile.billing.cliend_id"`, 23},
		{"unknown top key", "defualt_profile = \"a\"\n" + base, `unknown key "defualt_profile"`, 1},
		{"case variant", strings.Replace(base, "client_id = \"id-1\"", "Client_ID = \"id-1\"", 1), `lower case`, 13},
		{"syntax", base + "mailbox = \n", "TOML syntax", 23},
		{"default names nothing", strings.Replace(base, `default_profile = "alerts"`, `default_profile = "nope"`, 1), `default_profile = "nope"`, 1},
		{"mailbox missing", strings.Replace(base, `mailbox = "alerts@contoso.test"`, ``, 1), `profile "alerts": mailbox is required`, 0},
		{"mailbox no @", strings.Replace(base, `mailbox = "alerts@contoso.test"`, `mailbox = "alerts"`, 1), `not an address`, 10},
		{"bad auth", base + "auth = \"password\"\n", `auth = "password"`, 23},
		{"bad from", base + "from = \"spoof\"\n", `from = "spoof"`, 23},
		{"bad cloud", strings.Replace(base, `"usgov"`, `"mars"`, 1), `cloud = "mars"`, 21},
		{"both secrets", base + "client_secret_file = \"/x\"\n", `both client_secret and client_secret_file`, 20},
		{"bad size", strings.Replace(base, `"10MB"`, `"ten"`, 1), `max_message_size`, 22},
		{"bad duration", base + "[queue]\nretry = [\"soon\"]\n", `invalid duration "soon"`, 0},
		{"type mismatch", base + "send_x5c = \"yes\"\n", `send_x5c`, 0},
		{"no profiles", "hostname = \"x\"\n", `no [profile.NAME]`, 0},
		{"relative log", "log = \"mail.log\"\n" + base, `absolute`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.text)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *Error", err)
			}
			if tc.line > 0 && ce.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", ce.Line, tc.line, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestLocate(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	exists := func(p string) bool { return p == "/home/u/.config/oauth-sendmail/config.toml" }
	for _, tc := range []struct {
		name string
		in   LocateInput
		want string
	}{
		{"explicit", LocateInput{Explicit: "/x.toml", Getenv: env(map[string]string{"OAUTH_SENDMAIL_CONFIG": "/y"}), Exists: exists}, "/x.toml"},
		{"env", LocateInput{Getenv: env(map[string]string{"OAUTH_SENDMAIL_CONFIG": "/y"}), Exists: exists}, "/y"},
		{"xdg exists", LocateInput{Getenv: env(map[string]string{"HOME": "/home/u"}), Exists: exists}, "/home/u/.config/oauth-sendmail/config.toml"},
		{"xdg missing", LocateInput{Getenv: env(map[string]string{"HOME": "/home/v"}), Exists: exists}, SystemFile},
		{"privileged ignores all", LocateInput{Privileged: true, Explicit: "/x", Getenv: env(map[string]string{"OAUTH_SENDMAIL_CONFIG": "/y", "HOME": "/home/u"}), Exists: exists}, SystemFile},
	} {
		if got := Locate(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestChooseProfile(t *testing.T) {
	c := mustLoad(t, base)
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"billing@contoso.test"}, "billing"},
		{[]string{"BILLING@Contoso.Test"}, "billing"},
		{[]string{"root"}, "alerts"},
		{[]string{"root@web01.contoso.test"}, "alerts"},
		{[]string{"root@elsewhere.test"}, "alerts"}, // default
		{[]string{"x@app.contoso.test"}, "alerts"},
		{[]string{"", "billing@contoso.test"}, "billing"},
		{nil, "alerts"},
	} {
		p, err := c.ChooseProfile(tc.addrs...)
		if err != nil || p.Name != tc.want {
			t.Errorf("%v → %v %v, want %s", tc.addrs, p, err, tc.want)
		}
	}
	noDefault := mustLoad(t, strings.Replace(base, `default_profile = "alerts"`, ``, 1))
	if _, err := noDefault.ChooseProfile("nobody@x.test"); err == nil || !strings.Contains(err.Error(), "default_profile") {
		t.Errorf("no default and two profiles: %v", err)
	}
	one := mustLoad(t, "[profile.only]\nmailbox=\"o@x.test\"\ntenant=\"t\"\nclient_id=\"c\"\nclient_secret=\"s\"\n")
	if p, err := one.ChooseProfile("nobody@y.test"); err != nil || p.Name != "only" {
		t.Errorf("single profile: %v %v", p, err)
	}
}

func TestResolveRecipient(t *testing.T) {
	c := mustLoad(t, base)
	for _, tc := range []struct {
		in, want string
	}{
		{"root", "ops@contoso.test"},
		{"Root@localhost", "ops@contoso.test"},
		{"root@web01.contoso.test", "ops@contoso.test"},
		{"www-data", "web@contoso.test,ops@contoso.test"},
		{"admin", "ops@contoso.test"},
		{"jane@fabrikam.test", "jane@fabrikam.test"},
	} {
		got, err := c.ResolveRecipient(tc.in)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%s → %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
	_, err := c.ResolveRecipient("nosuch")
	var nu *NoUserError
	if !errors.As(err, &nu) || nu.Name != "nosuch" || !strings.Contains(err.Error(), "[aliases]") {
		t.Errorf("unknown local: %v", err)
	}
}

func TestAliasLoopAndCatchAll(t *testing.T) {
	text := strings.Replace(base, `admin = "root"`, "admin = \"ops\"\nops = \"admin\"\n\"*\" = \"catch@contoso.test\"", 1)
	c := mustLoad(t, text)
	if _, err := c.ResolveRecipient("admin"); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("loop: %v", err)
	}
	if got, err := c.ResolveRecipient("anyone"); err != nil || strings.Join(got, ",") != "catch@contoso.test" {
		t.Errorf("catch-all: %v %v", got, err)
	}
}

func TestAliasesFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "aliases")
	os.WriteFile(f, []byte("# comment\npostmaster: root\nbackup: a@x.test,\n  b@x.test\nroot: fromfile@x.test\nprog: |/usr/bin/thing\n"), 0o644)
	c := mustLoad(t, "aliases_file = \""+f+"\"\n"+base)
	if got, _ := c.ResolveRecipient("backup"); strings.Join(got, ",") != "a@x.test,b@x.test" {
		t.Errorf("continuation line: %v", got)
	}
	if got, _ := c.ResolveRecipient("postmaster"); strings.Join(got, ",") != "ops@contoso.test" {
		t.Errorf("chain through TOML root (TOML wins): %v", got)
	}
	if _, ok := c.Aliases["prog"]; ok {
		t.Errorf("a pipe alias cannot be delivered and must be skipped")
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s")
	p := &Profile{Name: "p", ClientSecretFile: f}
	os.WriteFile(f, []byte("  value-1 \n"), 0o640)
	if s, err := p.Secret(); err != nil || s != "value-1" {
		t.Errorf("trimmed secret: %q %v", s, err)
	}
	os.Chmod(f, 0o644)
	if _, err := p.Secret(); err == nil || !strings.Contains(err.Error(), "chmod 0640") || strings.Contains(err.Error(), "value-1") {
		t.Errorf("world-readable: %v", err)
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	os.Chmod(f, 0o600)
	if _, err := p.Secret(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if _, err := (&Profile{Name: "p", ClientSecretFile: filepath.Join(dir, "none")}).Secret(); err == nil {
		t.Error("missing file: no error")
	}
	if s, _ := (&Profile{ClientSecret: "inline"}).Secret(); s != "inline" {
		t.Error("inline")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[any]int64{"35MB": 35 << 20, "500KB": 500 << 10, "1gb": 1 << 30, int64(1000): 1000, "42": 42} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%v → %d %v", in, got, err)
		}
	}
	for _, in := range []any{"", "MB", "-1MB", int64(0), 1.5} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%v: no error", in)
		}
	}
}

func TestExampleLoads(t *testing.T) {
	c, err := Load("example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultProfile != "alerts" || c.Profiles["alerts"].ClientSecretFile == "" {
		t.Errorf("%+v", c)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Add("[profile.x]\nmailbox=1\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parse("/f.toml", s, func(string) string { return "" })
		if err == nil && len(c.Profiles) == 0 {
			t.Fatal("loaded a configuration without profiles")
		}
	})
}
