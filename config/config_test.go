package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
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

// baseEnd is the line the text appended to base starts on.
const baseEnd = 23

// fakeSys is a host named box.lan with /etc/mailname and the given extra
// files; nothing else exists.
func fakeSys(files map[string]string) sys {
	all := map[string]string{"/etc/mailname": "mail.contoso.test\n"}
	for k, v := range files {
		all[k] = v
	}
	env := map[string]string{"HOME": "/home/u"}
	return sys{
		getenv:   func(k string) string { return env[k] },
		hostname: func() (string, error) { return "Box.lan", nil },
		readFile: func(name string) ([]byte, error) {
			if s, ok := all[name]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

func load(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return parse("/tmp/test.toml", text, fakeSys(nil))
}

func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := load(t, text)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEveryKey(t *testing.T) {
	text := `default_profile = "p"
hostname = "Web01.Contoso.Test"
cache_dir = "/srv/cache"
log = "/var/log/oauth-sendmail.log"
aliases_file = "/etc/aliases"
local_domains = ["web01.internal"]

[aliases]
Root = ["a@contoso.test", "b@contoso.test"]

[queue]
dir = "/srv/spool"
retry = ["30s", "1d"]
max_age = "36h"
notify_to = "ops@contoso.test"
rate_per_minute = 10

[profile.p]
mailbox = "p@contoso.test"
senders = ["Root", "*@Web01.contoso.test"]
from = "keep"
tenant = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000001"
auth = "client_certificate"
client_secret_expires = 2027-06-30
certificate_file = "/etc/oauth-sendmail/p.pem"
key_file = "/etc/oauth-sendmail/p.key"
key_passphrase_file = "/etc/oauth-sendmail/p.pass"
send_x5c = true
cloud = "china"
transport = "smtp"
smtp = "127.0.0.1:2525"
authority = "https://127.0.0.1:8443"
scopes = ["api://x/.default"]
ca_file = "/tmp/ca.pem"
max_message_size = "150MB"
rate_per_minute = 5

[profile.q]
mailbox = "q@contoso.test"
tenant = "t"
client_id = "c"
client_secret_file = "/etc/oauth-sendmail/q.secret"
`
	c, err := parse("/srv/conf.toml", text, fakeSys(map[string]string{"/etc/aliases": "postmaster: root\n"}))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File:           "/srv/conf.toml",
		DefaultProfile: "p",
		Hostname:       "web01.contoso.test",
		CacheDir:       "/srv/cache",
		Log:            "/var/log/oauth-sendmail.log",
		AliasesFile:    "/etc/aliases",
		Aliases:        map[string][]string{"root": {"a@contoso.test", "b@contoso.test"}, "postmaster": {"root"}},
		LocalDomains:   []string{"localhost", "localhost.localdomain", "web01.contoso.test", "box.lan", "box", "mail.contoso.test", "web01.internal"},
		Queue: Queue{Dir: "/srv/spool", Retry: []time.Duration{30 * time.Second, 24 * time.Hour},
			MaxAge: 36 * time.Hour, NotifyTo: "ops@contoso.test", RatePerMinute: 10},
		Profiles: map[string]*Profile{
			"p": {
				Name: "p", Mailbox: "p@contoso.test", Senders: []string{"root", "*@web01.contoso.test"}, From: "keep",
				Tenant: "contoso.onmicrosoft.com", ClientID: "00000000-0000-0000-0000-000000000001",
				Auth: "client_certificate", ClientSecretExpires: time.Date(2027, 6, 30, 0, 0, 0, 0, time.Local),
				CertificateFile: "/etc/oauth-sendmail/p.pem", KeyFile: "/etc/oauth-sendmail/p.key",
				KeyPassphraseFile: "/etc/oauth-sendmail/p.pass", SendX5C: true, Cloud: "china",
				SMTP: "127.0.0.1:2525", Authority: "https://127.0.0.1:8443/", Scopes: []string{"api://x/.default"},
				CAFile: "/tmp/ca.pem", MaxMessageSize: 150 << 20, RatePerMinute: 5,
			},
			"q": {
				Name: "q", Mailbox: "q@contoso.test", From: "rewrite", Tenant: "t", ClientID: "c", Auth: "client_secret",
				ClientSecretFile: "/etc/oauth-sendmail/q.secret", Cloud: "global", SMTP: "smtp.office365.com:587",
				Authority: "https://login.microsoftonline.com/", Scopes: []string{"https://outlook.office365.com/.default"},
				MaxMessageSize: DefaultMaxMessageSize,
			},
		},
	}
	if !reflect.DeepEqual(c.Profiles, want.Profiles) {
		for n := range want.Profiles {
			if !reflect.DeepEqual(c.Profiles[n], want.Profiles[n]) {
				t.Errorf("profile %s:\n got %+v\nwant %+v", n, c.Profiles[n], want.Profiles[n])
			}
		}
	}
	c.Profiles, want.Profiles = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n got %+v\nwant %+v", c, want)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		file, cache, queue string
		system             bool
	}{
		{"/home/u/.config/oauth-sendmail/config.toml", "/home/u/.cache/oauth-sendmail", "/home/u/.local/state/oauth-sendmail/queue", false},
		{"/etc/oauth-sendmail/config.toml", "/var/cache/oauth-sendmail", "/var/spool/oauth-sendmail", true},
		{"/etc/../home/u/x.toml", "/home/u/.cache/oauth-sendmail", "/home/u/.local/state/oauth-sendmail/queue", false},
	} {
		c, err := parse(tc.file, base, fakeSys(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.System != tc.system || c.CacheDir != tc.cache || c.Queue.Dir != tc.queue {
			t.Errorf("%s: system %v cache %q queue %q", tc.file, c.System, c.CacheDir, c.Queue.Dir)
		}
	}
	c := mustLoad(t, strings.Replace(base, "hostname = \"web01.contoso.test\"\n", "", 1))
	wantQ := Queue{Dir: c.Queue.Dir, Retry: []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour},
		MaxAge: 5 * 24 * time.Hour, RatePerMinute: 30}
	if !reflect.DeepEqual(c.Queue, wantQ) || c.Log != "syslog" || c.Hostname != "box.lan" {
		t.Errorf("defaults: queue %+v log %q hostname %q", c.Queue, c.Log, c.Hostname)
	}
	a := c.Profiles["alerts"]
	if a.Auth != "client_secret" || a.From != "rewrite" || a.Cloud != "global" || a.MaxMessageSize != 35<<20 || a.RatePerMinute != 0 {
		t.Errorf("profile defaults: %+v", a)
	}
	cert := mustLoad(t, "[profile.c]\nmailbox = \"c@c.test\"\ntenant = \"t\"\nclient_id = \"c\"\ncertificate_file = \"/c.pem\"\n")
	if got := cert.Profiles["c"].Auth; got != "client_certificate" {
		t.Errorf("a certificate_file without auth: auth %q, want client_certificate", got)
	}
	env := fakeSys(nil)
	env.getenv = func(k string) string {
		return map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/x/cache", "XDG_STATE_HOME": "relative"}[k]
	}
	x, err := parse("/home/u/c.toml", base, env)
	if err != nil {
		t.Fatal(err)
	}
	if x.CacheDir != "/x/cache/oauth-sendmail" || x.Queue.Dir != "/home/u/.local/state/oauth-sendmail/queue" {
		t.Errorf("XDG dirs (a relative XDG value is ignored, as the spec says): %q %q", x.CacheDir, x.Queue.Dir)
	}
}

func TestClouds(t *testing.T) {
	for _, tc := range []struct {
		cloud, auth, authority, smtp, scope string
	}{
		{"global", "client_secret", "https://login.microsoftonline.com/", "smtp.office365.com:587", "https://outlook.office365.com/.default"},
		{"global", "device_code", "https://login.microsoftonline.com/", "smtp.office365.com:587", "https://outlook.office.com/SMTP.Send"},
		{"usgov", "client_certificate", "https://login.microsoftonline.us/", "outlook.office365.us:587", "https://outlook.office365.us/.default"},
		{"usgov", "device_code", "https://login.microsoftonline.us/", "outlook.office365.us:587", "https://outlook.office365.us/SMTP.Send"},
		{"usgov-dod", "client_secret", "https://login.microsoftonline.us/", "outlook-dod.office365.us:587", "https://outlook-dod.office365.us/.default"},
		{"usgov-dod", "device_code", "https://login.microsoftonline.us/", "outlook-dod.office365.us:587", "https://outlook-dod.office365.us/SMTP.Send"},
		{"china", "client_secret", "https://login.partner.microsoftonline.cn/", "smtp.partner.outlook.cn:587", "https://partner.outlook.cn/.default"},
		{"china", "device_code", "https://login.partner.microsoftonline.cn/", "smtp.partner.outlook.cn:587", "https://partner.outlook.cn/SMTP.Send"},
	} {
		text := fmt.Sprintf("[profile.x]\nmailbox = \"x@c.test\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret_file = \"/s\"\ncertificate_file = \"/c\"\ncloud = %q\nauth = %q\n", tc.cloud, tc.auth)
		if tc.auth == "client_secret" {
			text = strings.Replace(text, "certificate_file = \"/c\"\n", "", 1)
		}
		p := mustLoad(t, text).Profiles["x"]
		if p.Authority != tc.authority || p.SMTP != tc.smtp || !reflect.DeepEqual(p.Scopes, []string{tc.scope}) {
			t.Errorf("%s/%s: %s %s %v", tc.cloud, tc.auth, p.Authority, p.SMTP, p.Scopes)
		}
	}
}

func TestOverrides(t *testing.T) {
	for _, tc := range []struct {
		lines, smtp, authority string
	}{
		{`smtp = "mail.example.test"`, "mail.example.test:587", "https://login.partner.microsoftonline.cn/"},
		{`smtp = "[::1]:2525"`, "[::1]:2525", "https://login.partner.microsoftonline.cn/"},
		{`authority = "https://127.0.0.1:9443/tenant-less"`, "smtp.partner.outlook.cn:587", "https://127.0.0.1:9443/tenant-less/"},
	} {
		p := mustLoad(t, "[profile.x]\nmailbox = \"x@c.test\"\ntenant = \"t\"\nclient_id = \"c\"\nauth = \"device_code\"\ncloud = \"china\"\n"+tc.lines+"\n").Profiles["x"]
		if p.SMTP != tc.smtp || p.Authority != tc.authority {
			t.Errorf("%s: smtp %q authority %q", tc.lines, p.SMTP, p.Authority)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
		line             int // 0: the line is not checked
	}{
		{"unknown key", base + "cliend_id = \"x\"\n", `unknown key "profile.billing.cliend_id" (did you mean "client_id"?) — check the spelling; see oauth-sendmail.toml(5)`, baseEnd},
		{"unknown top key", "defualt_profile = \"a\"\n" + base, `unknown key "defualt_profile" (did you mean "default_profile"?)`, 1},
		{"unknown queue key", base + "[queue]\n\nretries = [\"1m\"]\n", `unknown key "queue.retries"`, baseEnd + 2},
		{"unknown table", base + "# profiles, not profile\n[profiles.x]\nmailbox = \"a@b.test\"\n", `unknown key "profiles.x" (did you mean "profile"?)`, baseEnd + 1},
		{"unknown key after multi-line array", strings.Replace(base, `senders = ["root", "*@app.contoso.test"]`, "senders = [\n  \"root\",\n  \"x=y@z\",\n]", 1) + "bogus = 1\n", `unknown key "profile.billing.bogus"`, baseEnd + 3},
		{"unknown key after multi-line string", strings.Replace(base, `client_secret = "inline"`, "client_secret = \"\"\"\nbogus = 2 [\n\"\"\"\nbogus = 1", 1), `unknown key "profile.alerts.bogus"`, 17},
		{"unknown key in inline table", base + "[profile.inline]\nmailbox = \"i@c.test\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nextra = { colour = \"red\" }\n", `unknown key "profile.inline.extra"`, baseEnd + 5},
		{"case variant", strings.Replace(base, `client_id = "id-1"`, `Client_ID = "id-1"`, 1), `key "profile.alerts.Client_ID" must be spelt "client_id"`, 13},
		{"case variant table", base + "[Queue]\nretry = [\"1m\"]\n", `must be spelt "queue"`, baseEnd},
		{"case variant top", strings.Replace(base, "hostname", "HostName", 1), `must be spelt "hostname"`, 2},
		{"syntax", base + "mailbox = \n", "TOML syntax error", baseEnd},
		{"syntax unclosed", "a = \"x\n" + base, "TOML syntax error", 1},
		{"duplicate key", base + "cloud = \"global\"\n", "TOML syntax error", baseEnd},
		{"bad duration", base + "[queue]\nretry = [\"1m\", \"soon\"]\n", `queue.retry: invalid duration "soon"`, baseEnd + 1},
		{"negative max_age", base + "[queue]\nmax_age = \"-1d\"\n", `invalid duration "-1d"`, baseEnd + 1},
		{"type mismatch", base + "send_x5c = \"yes\"\n", `key "profile.billing.send_x5c" must be true or false, not a string`, baseEnd},
		{"type mismatch int", base + "[queue]\nrate_per_minute = \"30\"\n", `key "queue.rate_per_minute" must be a whole number, not a string`, baseEnd + 1},
		{"type mismatch array", base + "scopes = \"x\"\n", `key "profile.billing.scopes" must be an array`, baseEnd},
		{"profile not a table", "[profile]\nmailbox = \"a@b.test\"\n", `key "profile.mailbox" must be a table`, 2},
		{"default names nothing", strings.Replace(base, `default_profile = "alerts"`, `default_profile = "nope"`, 1), `default_profile = "nope" names no [profile.nope] table: use one of alerts, billing`, 1},
		{"no profiles", "hostname = \"x\"\n", `no [profile.NAME] table`, 0},
		{"mailbox missing", strings.Replace(base, `mailbox = "alerts@contoso.test"`, ``, 1), `profile "alerts": mailbox is required`, 9},
		{"tenant missing", strings.Replace(base, `tenant = "contoso.test"`, ``, 1), `profile "alerts": tenant is required`, 9},
		{"client_id missing", strings.Replace(base, `client_id = "id-2"`, ``, 1), `profile "billing": client_id is required`, 16},
		{"mailbox no @", strings.Replace(base, `mailbox = "alerts@contoso.test"`, `mailbox = "alerts"`, 1), `profile "alerts": mailbox = "alerts" is not an address`, 10},
		{"bad auth", base + "auth = \"password\"\n", `profile "billing": auth = "password": use "client_secret", "client_certificate" or "device_code"`, baseEnd},
		{"bad from", base + "from = \"spoof\"\n", `profile "billing": from = "spoof": use "rewrite" or "keep"`, baseEnd},
		{"bad cloud", strings.Replace(base, `"usgov"`, `"mars"`, 1), `profile "billing": cloud = "mars"`, 21},
		{"graph transport", base + "transport = \"graph\"\n", `only "smtp"`, baseEnd},
		{"both secrets", base + "client_secret_file = \"/x\"\n", `profile "billing": both client_secret and client_secret_file are set`, 20},
		{"no secret", strings.Replace(base, "client_secret = \"inline2\"\n", "", 1), `profile "billing": client_secret_file is required`, 16},
		{"no certificate", base + "[profile.c]\nmailbox = \"c@c.test\"\ntenant = \"t\"\nclient_id = \"c\"\nauth = \"client_certificate\"\n", `profile "c": certificate_file is required`, baseEnd},
		{"bad size", strings.Replace(base, `"10MB"`, `"ten"`, 1), `profile "billing": max_message_size: "ten" is not a size`, 22},
		{"float size", strings.Replace(base, `"10MB"`, `1.5`, 1), `max_message_size`, 22},
		{"bad smtp", base + "smtp = \"smtp.office365.com:smtp\"\n", `profile "billing": smtp = "smtp.office365.com:smtp": give host:port`, baseEnd},
		{"http authority", base + "authority = \"http://login.microsoftonline.com/\"\n", `must be an https:// URL`, baseEnd},
		{"empty scopes", base + "scopes = []\n", `scopes is empty`, baseEnd},
		{"bad expiry", base + "client_secret_expires = \"June 2027\"\n", `client_secret_expires: give the date`, baseEnd},
		{"bad sender", strings.Replace(base, `"root", "*@app`, `"root ops", "*@app`, 1), `senders: "root ops" is not a pattern`, 11},
		{"negative profile rate", base + "rate_per_minute = -1\n", `rate_per_minute must be 0`, baseEnd},
		{"relative log", "log = \"mail.log\"\n" + base, `log = "mail.log": use "syslog", "stderr" or an absolute file path`, 1},
		{"bad hostname", strings.Replace(base, `"web01.contoso.test"`, `"web01 contoso"`, 1), `hostname = "web01 contoso" is not a host name`, 2},
		{"bad local domain", "local_domains = [\"@x\"]\n" + base, `local_domains: "@x" is not a domain`, 1},
		{"relative queue dir", base + "[queue]\ndir = \"spool\"\n", `queue.dir = "spool": give an absolute path`, baseEnd + 1},
		{"empty retry", base + "[queue]\nretry = []\n", `queue.retry is empty`, baseEnd + 1},
		{"zero retry", base + "[queue]\nretry = [\"0s\"]\n", `longer than 0s`, baseEnd + 1},
		{"negative queue rate", base + "[queue]\nrate_per_minute = -5\n", `queue.rate_per_minute must be 0`, baseEnd + 1},
		{"notify_to local", base + "[queue]\nnotify_to = \"root\"\n", `queue.notify_to = "root": give a full address`, baseEnd + 1},
		{"table defined twice", base + "[aliases]\n", "TOML syntax error", baseEnd},
		{"alias number", strings.Replace(base, `admin = "root"`, `admin = ["a@b.test", 1]`, 1), `aliases: "admin" must list addresses as strings`, 7},
		{"alias empty list", strings.Replace(base, `admin = "root"`, `admin = []`, 1), `aliases: "admin" is an empty list`, 7},
		{"alias two in one string", strings.Replace(base, `admin = "root"`, `admin = "a@b.test, c@d.test"`, 1), `give one address per string`, 7},
		{"aliases_file missing", "aliases_file = \"/etc/nosuch\"\n" + base, `aliases_file: open /etc/nosuch: file does not exist: fix the path or remove the key`, 1},
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
			if ce.File != "/tmp/test.toml" {
				t.Errorf("file %q", ce.File)
			}
			if tc.line > 0 && ce.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", ce.Line, tc.line, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if strings.Contains(err.Error(), "inline2") {
				t.Errorf("error shows the secret: %q", err)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	if s := (&Error{File: "c.toml", Line: 3, Msg: "m"}).Error(); s != "c.toml:3: m" {
		t.Error(s)
	}
	if s := (&Error{File: "c.toml", Msg: "m"}).Error(); s != "c.toml: m" {
		t.Error(s)
	}
}

func TestLoadFile(t *testing.T) {
	if _, err := Load("/nonexistent/config.toml"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want a not-exist error callers can test", err)
	}
	f := t.TempDir() + "/c.toml"
	os.WriteFile(f, []byte(base+"oops = 1\n"), 0o600)
	_, err := Load(f)
	if err == nil || err.Error() != f+`:23: unknown key "profile.billing.oops" — check the spelling; see oauth-sendmail.toml(5)` {
		t.Errorf("got %v", err)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "36h": 36 * time.Hour, "5d": 120 * time.Hour, "1.5d": 36 * time.Hour,
		"2h30m": 150 * time.Minute, " 1m ": time.Minute, "0d": 0,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%q → %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "d", "-1d", "-5m", "5", "1e300d", "5 days"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	c := mustLoad(t, base+"[queue]\nretry = [\"90s\", \"36h\", \"2d\"]\nmax_age = \"7d\"\n")
	if !reflect.DeepEqual(c.Queue.Retry, []time.Duration{90 * time.Second, 36 * time.Hour, 48 * time.Hour}) || c.Queue.MaxAge != 7*24*time.Hour {
		t.Errorf("queue: %+v", c.Queue)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{
		`"35MB"`: 35 << 20, `"150MB"`: 150 << 20, `"500KB"`: 500 << 10, `"1gb"`: 1 << 30,
		`"42"`: 42, `"42B"`: 42, `"35 MB"`: 35 << 20, `1048576`: 1 << 20,
	} {
		c := mustLoad(t, strings.Replace(base, `"10MB"`, in, 1))
		if got := c.Profiles["billing"].MaxMessageSize; got != want {
			t.Errorf("%s → %d, want %d", in, got, want)
		}
	}
	for _, in := range []any{"", "MB", "-1MB", "0", int64(0), int64(-3), 1.5, "9999999999999GB", "1TB"} {
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
	p := c.Profiles["alerts"]
	if c.DefaultProfile != "alerts" || p == nil || p.ClientSecretFile != "/etc/oauth-sendmail/alerts.secret" ||
		p.ClientSecret != "" || p.Auth != "client_secret" || c.Aliases["root"] == nil {
		t.Fatalf("%+v %+v", c, p)
	}
	// The shipped example documents every key, so a new key cannot be
	// added without saying there what it does.
	text, _ := os.ReadFile("example.toml")
	for _, typ := range []reflect.Type{reflect.TypeFor[rawConfig](), reflect.TypeFor[rawQueue](), reflect.TypeFor[rawProfile]()} {
		for i := range typ.NumField() {
			key := typ.Field(i).Tag.Get("toml")
			if key == "profile" || key == "queue" || key == "aliases" {
				continue
			}
			if !strings.Contains(string(text), key+" = ") {
				t.Errorf("example.toml does not show %s", key)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Add("[profile.x]\nmailbox=1\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parse("/f.toml", s, fakeSys(nil))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("not a one-line *Error: %T %q", err, err)
			}
			return
		}
		if len(c.Profiles) == 0 {
			t.Fatal("loaded a configuration without profiles")
		}
		for _, p := range c.Profiles {
			if !strings.HasSuffix(p.Authority, "/") || len(p.Scopes) == 0 || p.SMTP == "" {
				t.Fatalf("profile without endpoints: %+v", p)
			}
		}
	})
}
