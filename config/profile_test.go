package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocate(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	exists := func(p string) bool {
		return p == "/home/u/.config/oauth-sendmail/config.toml" || p == "/xdg/oauth-sendmail/config.toml"
	}
	all := map[string]string{"OAUTH_SENDMAIL_CONFIG": "/y.toml", "HOME": "/home/u"}
	for _, tc := range []struct {
		name string
		in   LocateInput
		want string
	}{
		{"explicit first", LocateInput{Explicit: "/x.toml", Getenv: env(all), Exists: exists}, "/x.toml"},
		{"then the environment", LocateInput{Getenv: env(all), Exists: exists}, "/y.toml"},
		{"then ~/.config", LocateInput{Getenv: env(map[string]string{"HOME": "/home/u"}), Exists: exists}, "/home/u/.config/oauth-sendmail/config.toml"},
		{"XDG_CONFIG_HOME", LocateInput{Getenv: env(map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/xdg"}), Exists: exists}, "/xdg/oauth-sendmail/config.toml"},
		{"relative XDG_CONFIG_HOME ignored", LocateInput{Getenv: env(map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "xdg"}), Exists: exists}, "/home/u/.config/oauth-sendmail/config.toml"},
		{"user file missing", LocateInput{Getenv: env(map[string]string{"HOME": "/home/v"}), Exists: exists}, SystemFile},
		{"no HOME", LocateInput{Getenv: env(nil), Exists: func(string) bool { return true }}, SystemFile},
		{"privileged ignores -C", LocateInput{Privileged: true, Explicit: "/x.toml", Getenv: env(all), Exists: exists}, SystemFile},
		{"privileged ignores the environment", LocateInput{Privileged: true, Getenv: env(all), Exists: exists}, SystemFile},
	} {
		if got := Locate(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := Locate(LocateInput{Explicit: "/given.toml"}); got != "/given.toml" {
		t.Errorf("nil Getenv/Exists: %q", got)
	}
}

func TestProfileByName(t *testing.T) {
	c := mustLoad(t, base)
	if p, err := c.Profile("billing"); err != nil || p.Mailbox != "billing@contoso.test" {
		t.Errorf("%v %v", p, err)
	}
	if _, err := c.Profile("nope"); err == nil || !strings.Contains(err.Error(), `no profile "nope" in /tmp/test.toml: use one of alerts, billing`) {
		t.Errorf("%v", err)
	}
}

func TestChooseProfile(t *testing.T) {
	text := base + `senders = ["*@contoso.test", "backup@web01.contoso.test"]

[profile.zeta]
mailbox = "zeta@contoso.test"
tenant = "t"
client_id = "c"
client_secret = "s"
senders = ["cron@app.contoso.test", "nightly-*"]
`
	c := mustLoad(t, text)
	for _, tc := range []struct {
		name  string
		addrs []string
		want  string
	}{
		{"mailbox", []string{"billing@contoso.test"}, "billing"},
		{"mailbox, any case", []string{"<BILLING@Contoso.Test>"}, "billing"},
		{"mailbox beats another profile's pattern", []string{"alerts@contoso.test"}, "alerts"},
		{"bare local sender", []string{"root"}, "alerts"},
		{"local sender at localhost", []string{"root@localhost"}, "alerts"},
		{"local sender at the hostname", []string{"root@web01.contoso.test"}, "alerts"},
		{"pattern at the hostname, bare sender", []string{"backup"}, "billing"},
		{"pattern at the hostname, sender at another local name", []string{"Backup@box.lan"}, "billing"},
		{"root elsewhere is not root", []string{"root@fabrikam.test"}, "alerts"}, // default
		{"glob", []string{"x@app.contoso.test"}, "alerts"},
		{"literal beats glob", []string{"cron@app.contoso.test"}, "zeta"},
		{"glob on local names", []string{"nightly-backup"}, "zeta"},
		{"glob on local names at localhost", []string{"nightly-backup@localhost"}, "zeta"},
		{"glob in another profile", []string{"someone@contoso.test"}, "billing"},
		{"first address wins", []string{"nightly-x", "billing@contoso.test"}, "zeta"},
		{"empty sender skipped", []string{"", "billing@contoso.test"}, "billing"},
		{"From after an unmatched sender", []string{"www-data@fabrikam.test", "zeta@contoso.test"}, "zeta"},
		{"nothing given", nil, "alerts"},
		{"nothing matches", []string{"a@fabrikam.test"}, "alerts"},
	} {
		p, err := c.ChooseProfile(tc.addrs...)
		if err != nil || p.Name != tc.want {
			t.Errorf("%s: %v → %v %v, want %s", tc.name, tc.addrs, p, err, tc.want)
		}
	}
	noDefault := mustLoad(t, strings.Replace(text, `default_profile = "alerts"`, ``, 1))
	if _, err := noDefault.ChooseProfile("nobody@fabrikam.test"); err == nil || !strings.Contains(err.Error(), "set default_profile in /tmp/test.toml (profiles: alerts, billing, zeta)") {
		t.Errorf("no default, several profiles: %v", err)
	}
	if p, err := noDefault.ChooseProfile("nobody@fabrikam.test", "zeta@contoso.test"); err != nil || p.Name != "zeta" {
		t.Errorf("no default, From matches: %v %v", p, err)
	}
	one := mustLoad(t, "[profile.only]\nmailbox=\"o@x.test\"\ntenant=\"t\"\nclient_id=\"c\"\nclient_secret=\"s\"\n")
	if p, err := one.ChooseProfile("nobody@y.test"); err != nil || p.Name != "only" {
		t.Errorf("single profile: %v %v", p, err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		ok     bool
	}{
		{"root", "root", true},
		{"root", "roots", false},
		{"*", "", true},
		{"*@a.test", "x@a.test", true},
		{"*@a.test", "x@b.a.test", false},
		{"*@*.a.test", "x@b.a.test", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // prefix and suffix must not overlap
		{"[x]", "x", false},     // only * is special
		{"a?c", "abc", false},
	} {
		if got := globMatch(tc.pat, tc.s); got != tc.ok {
			t.Errorf("globMatch(%q, %q) = %v", tc.pat, tc.s, got)
		}
	}
}

func TestSecret(t *testing.T) {
	const value = "Q~s3cr3t.Value_1234"
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name string
		p    Profile
		want string // the secret, or a part of the error
		ok   bool
	}{
		{"inline", Profile{ClientSecret: value}, value, true},
		{"inline trimmed", Profile{ClientSecret: " " + value + "\n"}, value, true},
		{"inline blank", Profile{ClientSecret: "  "}, "client_secret is blank", false},
		{"file", Profile{ClientSecretFile: write("ok", value, 0o640)}, value, true},
		{"file trimmed", Profile{ClientSecretFile: write("trim", "\n  "+value+" \r\n", 0o400)}, value, true},
		{"group may read", Profile{ClientSecretFile: write("g", value, 0o660)}, value, true},
		{"others may read", Profile{ClientSecretFile: write("o", value, 0o644)}, "chmod 0640 " + filepath.Join(dir, "o"), false},
		{"others may write", Profile{ClientSecretFile: write("w", value, 0o642)}, "chmod 0640", false},
		{"empty file", Profile{ClientSecretFile: write("empty", " \n", 0o600)}, "is empty", false},
		{"missing file", Profile{ClientSecretFile: filepath.Join(dir, "none")}, "does not exist", false},
		{"a directory", Profile{ClientSecretFile: dir}, "not a regular file", false},
		{"too big", Profile{ClientSecretFile: write("big", strings.Repeat("x", maxSecretSize+1), 0o600)}, "larger than 64 KiB", false},
		{"none configured", Profile{}, "no client_secret_file", false},
	} {
		tc.p.Name = "p"
		s, err := tc.p.Secret()
		if tc.ok {
			if err != nil || s != tc.want {
				t.Errorf("%s: %q %v", tc.name, s, err)
			}
			continue
		}
		if err == nil || s != "" {
			t.Errorf("%s: no error (%q)", tc.name, s)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `profile "p"`) {
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error shows the secret or spans lines: %q", tc.name, err)
		}
	}
}

func TestSecretUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	f := filepath.Join(t.TempDir(), "s")
	os.WriteFile(f, []byte("x"), 0o000)
	_, err := (&Profile{Name: "p", ClientSecretFile: f}).Secret()
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("%v", err)
	}
}
