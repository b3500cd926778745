package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

// Injection through argv and headers: refused with a clear message or
// made harmless; never an extra recipient or SMTP command at the fake.
func TestInjection(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		codes []int // acceptable exit codes
	}{
		{"-F with CRLF", "Subject: x\n\nbody\n", []string{"-F", "Evil\r\nBcc: x@evil.test", "ops@contoso.test"}, []int{64}},
		{"-f with CRLF", "Subject: x\n\nbody\n", []string{"-f", "a@b.test\r\nRCPT TO:<x@evil.test>", "ops@contoso.test"}, []int{64}},
		{"dash recipient after --", "Subject: x\n\nbody\n", []string{"--", "-oQ/tmp"}, []int{67}},
		{"recipient with CRLF", "Subject: x\n\nbody\n", []string{"ops@contoso.test\r\nRCPT TO:<x@evil.test>"}, []int{64}},
		{"recipient with spaces", "Subject: x\n\nbody\n", []string{"a b@contoso.test"}, []int{64}},
		{"recipient with brackets", "Subject: x\n\nbody\n", []string{"<a@contoso.test> <x@evil.test>"}, []int{64}},
		{"NUL in a header", "Subject: a\x00b\nTo: ops@contoso.test\n\nbody\n", []string{"-t"}, []int{65}},
		{"CR in Subject", "To: ops@contoso.test\nSubject: hi\rBcc: x@evil.test\n\nbody\n", []string{"-t", "-i"}, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.Exchange.Received())
			r := w.Run(tc.stdin, "sendmail", tc.args...)
			ok := false
			for _, c := range tc.codes {
				ok = ok || r.Code == c
			}
			if !ok {
				t.Errorf("exit %d, want one of %v\n%s", r.Code, tc.codes, r)
			}
			if r.Code != 0 && (r.Stderr == "" || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1) {
				t.Errorf("no clear one-line error: %q", r.Stderr)
			}
			for _, m := range w.Exchange.Received()[before:] {
				for _, rc := range m.To {
					if strings.Contains(rc, "evil") {
						t.Errorf("injected recipient %q reached Exchange", rc)
					}
				}
			}
		})
	}
}

// Size and shape: each a clear outcome, memory bounded by the reader.
func TestSizeAndShape(t *testing.T) {
	w := newWorld(t)
	many := strings.Repeat("X-Field: v\n", 10000)
	nuls := string(make([]byte, 100000))
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		check func(t *testing.T, m fakeexo.Received)
	}{
		{"1 MB header line", "Subject: " + strings.Repeat("a", 1<<20) + "\n\nx\n", []string{"ops@contoso.test"}, 65, nil},
		{"2 MB of header", strings.Repeat("X-Big: "+strings.Repeat("b", 900)+"\n", 2300) + "\nx\n", []string{"ops@contoso.test"}, 65, nil},
		{"100,000 recipients", "To: " + strings.Repeat("someone@fabrikam.test, ", 100000) + "\nSubject: many\n\nx\n", []string{"-t"}, 65, nil},
		{"10,000 header fields", many + "Subject: many\n\nx\n", []string{"ops@contoso.test"}, 0, func(t *testing.T, m fakeexo.Received) {
			if bytes.Count(m.Data, []byte("X-Field: v\r\n")) != 10000 {
				t.Error("fields lost")
			}
		}},
		{"body of NUL bytes", "Subject: nul\n\n" + nuls, []string{"ops@contoso.test"}, 0, func(t *testing.T, m fakeexo.Received) {
			if !bytes.Contains(m.Data, make([]byte, 900)) {
				t.Error("NUL body not delivered as is")
			}
		}},
		{"no separator, only headers", "Subject: only\nTo: ops@contoso.test", []string{"-t"}, 0, nil},
		{"mbox From line", "From someone@x Mon Jan  1 00:00:00 2024\nSubject: mbox\n\nx\n", []string{"ops@contoso.test"}, 0, func(t *testing.T, m fakeexo.Received) {
			if bytes.HasPrefix(m.Data, []byte("From ")) {
				t.Error("mbox line sent as a header")
			}
		}},
		{"8-bit garbage in headers", "Subject: \xff\xfe\x80 caf\xe9\n\nx\n", []string{"ops@contoso.test"}, 0, func(t *testing.T, m fakeexo.Received) {
			if !m.Body8Bit {
				t.Error("8-bit header not sent as 8BITMIME")
			}
		}},
		{"bare CR line endings", "Subject: cr\r\rline1\rline2\r", []string{"ops@contoso.test"}, 0, func(t *testing.T, m fakeexo.Received) {
			if !bytes.Contains(m.Data, []byte("\r\n\r\nline1\r\nline2\r\n")) {
				t.Errorf("%q", m.Data)
			}
		}},
		{"no header at all", "just text\nmore\n", []string{"ops@contoso.test"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.Exchange.Received())
			r := w.Run(tc.stdin, "sendmail", tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tc.code, r.Stderr)
			}
			got := w.Exchange.Received()[before:]
			if tc.code != 0 {
				if len(got) != 0 {
					t.Error("refused message was sent")
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("received %d", len(got))
			}
			if tc.check != nil {
				tc.check(t, got[0])
			}
		})
	}
}

// More than 500 recipients: several transactions of at most 500.
func TestManyRecipientsSplit(t *testing.T) {
	w := newWorld(t)
	var rcpts []string
	for i := 0; i < 1234; i++ {
		rcpts = append(rcpts, fmt.Sprintf("r%d@fabrikam.test", i))
	}
	r := w.Run("Subject: many\n\nx\n", "sendmail", strings.Join(rcpts, ","))
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	got := w.Exchange.Received()
	if len(got) != 3 || len(got[0].To) != 500 || len(got[2].To) != 234 {
		t.Fatalf("%d transactions", len(got))
	}
	seen := map[string]bool{}
	for _, m := range got {
		for _, rc := range m.To {
			if seen[rc] {
				t.Errorf("%s twice", rc)
			}
			seen[rc] = true
		}
	}
	if len(seen) != 1234 {
		t.Errorf("%d recipients delivered", len(seen))
	}
}

// Secrets: run a full scenario at every verbosity and grep every output,
// the log, the queue files and the cache-free places for each secret.
func TestSecretsNeverLeak(t *testing.T) {
	w := newWorld(t)
	certFile := filepath.Join(w.Dir, "cert.pem")
	cert := writeCertificate(t, certFile)
	w.Entra.AddCertApp(harness.Tenant, "cert-app", cert)
	w.Entra.AddUser(harness.Tenant, "public-app", "jane@contoso.test")
	w.Extra = profileTOML(w, "certs", "certs@contoso.test", "cert-app", "client_certificate", fmt.Sprintf("certificate_file = %q\n", certFile)) +
		profileTOML(w, "jane", "jane@contoso.test", "public-app", "device_code", "")
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	var outputs []harness.Result
	run := func(stdin, prog string, args ...string) harness.Result {
		r := w.Run(stdin, prog, args...)
		outputs = append(outputs, r)
		return r
	}
	run("", "oauth-sendmail", "login", "--profile", "jane")
	for _, v := range [][]string{nil, {"-v"}, {"-v", "-v", "-v"}} {
		run("Subject: a\n\nx\n", "sendmail", append(v, "ops@contoso.test")...)
		run("Subject: b\n\nx\n", "sendmail", append(v, "-f", "x@certs.contoso.test", "ops@contoso.test")...)
		run("Subject: c\n\nx\n", "sendmail", append(v, "-f", "jane@contoso.test", "ops@contoso.test")...)
	}
	run("", "oauth-sendmail", "doctor", "--send-test", "me@fabrikam.test")
	run("", "oauth-sendmail", "doctor", "--profile", "certs", "--json")
	// Failures: a held message, an error message.
	w.Exchange.Inject(fakeexo.Fault{Stage: "mail", Code: 451, Enhanced: "4.3.2", Text: "try later", Times: -1})
	run("Subject: d\n\nx\n", "sendmail", "-v", "ops@contoso.test")
	q := run("", "mailq")
	if !strings.Contains(q.Stdout, "1 Request") {
		t.Fatalf("nothing queued: %s", q)
	}
	ents, _ := os.ReadDir(filepath.Join(w.SpoolDir(), "new"))
	run("", "oauth-sendmail", "queue", "show", ents[0].Name())
	w.Exchange.ClearFaults()
	os.WriteFile(filepath.Join(w.Dir, "secret"), []byte("wrong-"+w.Secret[:4]), 0o600)
	os.RemoveAll(filepath.Join(w.Dir, "cache", "alerts.json"))
	run("Subject: e\n\nx\n", "sendmail", "-v", "-v", "-odi", "ops@contoso.test")
	os.WriteFile(filepath.Join(w.Dir, "secret"), []byte(w.Secret), 0o600)

	// Everything a user or an operator can see.
	var seen bytes.Buffer
	for _, r := range outputs {
		seen.WriteString(r.Stdout + r.Stderr)
	}
	seen.WriteString(w.Log())
	filepath.Walk(w.SpoolDir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(p) == "env" {
			b, _ := os.ReadFile(p)
			seen.Write(b)
		}
		return nil
	})

	secrets := map[string]string{"client secret": w.Secret}
	key, _ := os.ReadFile(certFile)
	keyPEM := string(key[bytes.Index(key, []byte("-----BEGIN PRIVATE KEY-----")):])
	secrets["certificate key"] = strings.Split(keyPEM, "\n")[3]
	// Tokens from the caches.
	for _, f := range []string{"alerts.json", "certs.json", "jane.json"} {
		b, err := os.ReadFile(filepath.Join(w.Dir, "cache", f))
		if err != nil {
			continue
		}
		var doc map[string]map[string]map[string]any
		json.Unmarshal(b, &doc)
		for kind, entries := range doc {
			for _, e := range entries {
				if s, ok := e["secret"].(string); ok && len(s) > 20 {
					secrets[kind+" from "+f] = s
				}
			}
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("found only %d secrets to look for: %v", len(secrets), keys(secrets))
	}
	for name, s := range secrets {
		if strings.Contains(seen.String(), s) {
			t.Errorf("the %s appears in what users see", name)
		}
		if len(s) > 40 && strings.Contains(seen.String(), s[len(s)-30:]) {
			t.Errorf("a part of the %s appears in what users see", name)
		}
	}
	// The files holding them are private.
	for _, f := range []string{filepath.Join(w.Dir, "secret"), filepath.Join(w.Dir, "cache", "certs.json"), filepath.Join(w.Dir, "cache", "jane.json")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("%v", err)
		} else if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v", f, fi.Mode())
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A secret file others can read is refused, naming the chmod.
func TestSecretFileReadableByOthers(t *testing.T) {
	w := newWorld(t)
	os.Chmod(filepath.Join(w.Dir, "secret"), 0o644)
	r := w.Run("Subject: x\n\nx\n", "sendmail", "-odi", "ops@contoso.test")
	if (r.Code != 77 && r.Code != 78) || !strings.Contains(r.Stderr, "chmod 0640") {
		t.Errorf("%s", r)
	}
	if w.Entra.TokenRequests() != 0 {
		t.Error("the exposed secret was still sent to Entra")
	}
}

// Privileged mode: a setgid copy run by nobody ignores every way the
// caller could point it at other files.
func TestSetgidIgnoresCallerEnvironment(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to make a setgid binary and run it as nobody")
	}
	if _, err := os.Stat("/etc/oauth-sendmail"); err == nil && os.Getenv("OAUTH_SENDMAIL_REQUIRE_CLIENTS") == "" {
		t.Skip("/etc/oauth-sendmail exists: not touching a real installation")
	}
	grp, err := user.LookupGroup("mail")
	if err != nil {
		t.Skip("no group mail")
	}
	gid, _ := strconv.Atoi(grp.Gid)

	legit := newWorld(t)    // what /etc/oauth-sendmail/config.toml points at
	attacker := newWorld(t) // what the caller's environment points at
	// The system configuration, readable only by root and the group.
	os.MkdirAll("/etc/oauth-sendmail", 0o750)
	os.Chown("/etc/oauth-sendmail", 0, gid)
	t.Cleanup(func() { os.RemoveAll("/etc/oauth-sendmail") })
	cfg, _ := os.ReadFile(legit.ConfigFile)
	os.WriteFile("/etc/oauth-sendmail/config.toml", cfg, 0o640)
	os.Chown("/etc/oauth-sendmail/config.toml", 0, gid)
	for _, p := range []string{filepath.Join(legit.Dir, "secret"), filepath.Join(legit.Dir, "ca.pem")} {
		os.Chown(p, 0, gid)
		os.Chmod(p, 0o640)
	}
	for _, d := range []string{legit.SpoolDir(), filepath.Join(legit.Dir, "cache")} {
		os.MkdirAll(d, 0o2770)
		os.Chown(d, 0, gid)
		os.Chmod(d, 0o2770|os.ModeSetgid)
	}
	os.WriteFile(legit.LogFile(), nil, 0o660)
	os.Chown(legit.LogFile(), 0, gid)
	for d := legit.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	// A setgid copy of the binary.
	bin := filepath.Join(legit.Dir, "setgid-sendmail")
	b, _ := os.ReadFile(binary)
	os.WriteFile(bin, b, 0o755)
	os.Chown(bin, 0, gid)
	os.Chmod(bin, 0o755|os.ModeSetgid)
	os.Chmod(attacker.ConfigFile, 0o644)

	cmd := exec.Command(bin, "-C", attacker.ConfigFile, "ops@contoso.test")
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"OAUTH_SENDMAIL_CONFIG=" + attacker.ConfigFile,
		"HOME=" + attacker.Dir,
		"XDG_CONFIG_HOME=" + attacker.Dir,
		"XDG_CACHE_HOME=" + attacker.Dir,
		"XDG_STATE_HOME=" + attacker.Dir,
		"TMPDIR=" + attacker.Dir,
	}
	cmd.Stdin = strings.NewReader("Subject: from nobody\n\nx\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("setgid sendmail as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-C") || !strings.Contains(string(out), "ignored") {
		t.Errorf("no warning about the ignored -C: %s", out)
	}
	if n := len(legit.Exchange.Received()); n != 1 {
		t.Errorf("the system configuration's Exchange got %d messages, want 1", n)
	}
	if attacker.Exchange.Connections() != 0 || attacker.Entra.TokenRequests() != 0 {
		t.Error("the caller's configuration was used")
	}
	// Through the setgid binary nobody may send and list the queue, but
	// not get a token or manage the queue.
	asNobody := func(args ...string) (string, int) {
		c := exec.Command(bin, args...)
		c.Args[0] = "oauth-sendmail"
		c.Env = []string{"PATH=/usr/bin:/bin"}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := c.CombinedOutput()
		return string(out), c.ProcessState.ExitCode()
	}
	if out, code := asNobody("token"); code != 77 || strings.Contains(out, ".") && len(out) > 200 {
		t.Errorf("nobody ran `oauth-sendmail token`: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"queue", "show", "x"}, {"doctor"}, {"setup", "--yes"}} {
		if out, code := asNobody(args...); code != 77 {
			t.Errorf("nobody ran %v: exit %d\n%s", args, code, out)
		}
	}
	if out, code := asNobody("queue", "list"); code != 0 {
		t.Errorf("nobody could not list the queue: exit %d\n%s", code, out)
	}
	// nobody cannot read the secret or the token cache itself.
	for _, p := range []string{filepath.Join(legit.Dir, "secret"), filepath.Join(legit.Dir, "cache", "alerts.json")} {
		c := exec.Command("/bin/cat", p)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if c.Run() == nil {
			t.Errorf("nobody can read %s", p)
		}
	}
}
