package config

import (
	"errors"
	"strings"
	"testing"
)

func TestIsLocal(t *testing.T) {
	c := mustLoad(t, "local_domains = [\"Web01.Internal\"]\n"+base)
	for _, tc := range []struct {
		addr, name string
		local      bool
	}{
		{"root", "root", true},
		{"Root", "root", true},
		{"<root>", "root", true},
		{"root@localhost", "root", true},
		{"root@LOCALHOST.localdomain", "root", true},
		{"Cron@web01.contoso.test", "cron", true}, // hostname
		{"root@box.lan", "root", true},            // os.Hostname()
		{"root@box", "root", true},                // its short name
		{"root@mail.contoso.test", "root", true},  // /etc/mailname
		{"root@web01.internal", "root", true},     // local_domains
		{"root@web01.contoso.test.", "root", true},
		{"root@contoso.test", "", false},
		{"root@web01.contoso.test.evil", "", false},
		{"", "", false},
	} {
		name, ok := c.IsLocal(tc.addr)
		if name != tc.name || ok != tc.local {
			t.Errorf("IsLocal(%q) = %q %v, want %q %v", tc.addr, name, ok, tc.name, tc.local)
		}
	}
}

func TestResolveRecipient(t *testing.T) {
	text := strings.Replace(base, `admin = "root"`, `admin = "root"
team = ["Alice@Contoso.test", "www-data", "alice@contoso.test", "root"]
deep1 = "deep2"
deep2 = "deep3"
deep3 = "bob@contoso.test"`, 1)
	c := mustLoad(t, text)
	for _, tc := range []struct {
		in, want string
	}{
		{"root", "ops@contoso.test"},
		{"Root@localhost", "ops@contoso.test"},
		{"root@web01.contoso.test", "ops@contoso.test"},
		{"<root>", "ops@contoso.test"},
		{"www-data", "web@contoso.test,ops@contoso.test"},
		{"admin", "ops@contoso.test"},
		{"team", "Alice@Contoso.test,web@contoso.test,ops@contoso.test"},
		{"deep1", "bob@contoso.test"},
		{"jane@fabrikam.test", "jane@fabrikam.test"},
		{" Jane@Fabrikam.test ", "Jane@Fabrikam.test"},
	} {
		got, err := c.ResolveRecipient(tc.in)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%q → %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
	_, err := c.ResolveRecipient("nosuch@localhost")
	var nu *NoUserError
	if !errors.As(err, &nu) || nu.Name != "nosuch" {
		t.Fatalf("unknown local: %v", err)
	}
	want := `unknown local recipient "nosuch": add it under [aliases] (nosuch = "someone@example.com") or a "*" catch-all in /tmp/test.toml`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if _, err := c.ResolveRecipient(""); err == nil {
		t.Error("empty address: no error")
	}
}

func TestCatchAllAndLoops(t *testing.T) {
	for _, tc := range []struct {
		name, aliases, in, want, err string
	}{
		{"catch-all", `"*" = "catch@contoso.test"`, "anyone", "catch@contoso.test", ""},
		{"catch-all list", `"*" = ["a@contoso.test", "b@contoso.test"]`, "anyone@localhost", "a@contoso.test,b@contoso.test", ""},
		{"alias beats catch-all", `"*" = "catch@contoso.test"`, "root", "ops@contoso.test", ""},
		{"catch-all to a local alias", `"*" = "root"`, "anyone", "ops@contoso.test", ""},
		{"catch-all to an unknown name", `"*" = "nobody"`, "anyone", "", "alias loop * -> nobody"},
		{"two-name loop", "loop1 = \"loop2\"\nloop2 = \"loop1\"", "loop1", "", "alias loop loop1 -> loop2 -> loop1 in /tmp/test.toml"},
		{"self loop", `self = "self@localhost"`, "self", "", "alias loop self -> self"},
		{"loop behind a real address", "fan = [\"a@contoso.test\", \"fan2\"]\nfan2 = \"fan\"", "fan", "", "alias loop fan -> fan2 -> fan"},
		{"repeat is not a loop", "r1 = [\"root\", \"admin\"]", "r1", "ops@contoso.test", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, strings.Replace(base, `admin = "root"`, "admin = \"root\"\n"+tc.aliases, 1))
			got, err := c.ResolveRecipient(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v %v, want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Errorf("got %v %v, want %s", got, err, tc.want)
			}
		})
	}
}

func TestAliasesFile(t *testing.T) {
	file := "# comment\n\npostmaster: root\nbackup: a@x.test,\n  b@x.test,\n\tc@x.test\nroot: fromfile@x.test\n" +
		"prog: |/usr/bin/thing\nmixed: /var/mail/x, m@x.test, \"|/bin/prog arg\", :include:/etc/list, \\mixed\nMAILER-DAEMON: postmaster\n"
	c, err := parse("/tmp/test.toml", "aliases_file = \"/etc/aliases\"\n"+base, fakeSys(map[string]string{"/etc/aliases": file}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"backup", "a@x.test,b@x.test,c@x.test"}, // continuation lines
		{"postmaster", "ops@contoso.test"},       // through root, which TOML defines: TOML wins
		{"mailer-daemon", "ops@contoso.test"},
		{"mixed", "m@x.test"}, // only what Exchange can deliver
	} {
		if got, err := c.ResolveRecipient(tc.in); err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%s → %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
	if _, ok := c.Aliases["prog"]; ok {
		t.Errorf("a pipe alias cannot be delivered and must be left out")
	}
}
