package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

// binary is the oauth-sendmail built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oauth-sendmail-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	binary, err = harness.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newWorld(t *testing.T) *harness.World {
	t.Helper()
	w, err := harness.NewWorld(binary, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// checkNoSecret fails when any output of the scenario shows the secret.
func checkNoSecret(t *testing.T, w *harness.World, outputs ...harness.Result) {
	t.Helper()
	for _, r := range outputs {
		if strings.Contains(r.Stdout+r.Stderr, w.Secret) {
			t.Errorf("the client secret appears in the output:\n%s", r)
		}
	}
	if strings.Contains(w.Log(), w.Secret) {
		t.Errorf("the client secret appears in the log")
	}
}

const phpMessage = "To: Jane Customer <jane@fabrikam.test>\n" +
	"Cc: sales@contoso.test, \"Doe, John\" <john@fabrikam.test>\n" +
	"Bcc: audit@contoso.test\n" +
	"Subject: Your order #1042\n" +
	"From: Web Shop <www-data@web01.contoso.test>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=UTF-8\n" +
	"\n" +
	"Hello Jane,\n" +
	"\n" +
	"your order has shipped.\n"

// Acceptance 1: PHP's mail() — `sendmail -t -i`, LF endings, To/Cc/Bcc.
func TestPHPStyleSendmailT(t *testing.T) {
	w := newWorld(t)
	res := w.Run(phpMessage, "sendmail", "-t", "-i")
	if res.Code != 0 {
		t.Fatalf("sendmail -t -i: %s", res)
	}
	got := w.Exchange.Received()
	if len(got) != 1 {
		t.Fatalf("fake Exchange received %d messages, want 1", len(got))
	}
	m := got[0]
	if m.User != harness.Mailbox {
		t.Errorf("AUTH user = %q, want %q", m.User, harness.Mailbox)
	}
	if m.From != harness.Mailbox {
		t.Errorf("MAIL FROM = %q, want the profile mailbox %q", m.From, harness.Mailbox)
	}
	rcpts := append([]string(nil), m.To...)
	sort.Strings(rcpts)
	want := []string{"audit@contoso.test", "jane@fabrikam.test", "john@fabrikam.test", "sales@contoso.test"}
	if strings.Join(rcpts, " ") != strings.Join(want, " ") {
		t.Errorf("recipients = %v, want %v", rcpts, want)
	}

	data := m.Data
	if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) ||
		bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\r")) {
		t.Errorf("message has a line ending other than CRLF:\n%q", data)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	h := msg.Header
	if _, ok := h["Bcc"]; ok {
		t.Errorf("Bcc header was sent: %q", h.Get("Bcc"))
	}
	if bytes.Contains(bytes.ToLower(data), []byte("audit@contoso.test")) {
		t.Errorf("the Bcc address is visible in the sent message")
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	if !regexp.MustCompile(`^<[^<>@\s]+@[^<>@\s]+>$`).MatchString(h.Get("Message-Id")) {
		t.Errorf("Message-ID = %q, want <unique@host>", h.Get("Message-Id"))
	}
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil {
		t.Fatalf("From %q: %v", h.Get("From"), err)
	}
	if from.Address != harness.Mailbox || from.Name != "Web Shop" {
		t.Errorf("From = %q <%s>, want \"Web Shop\" <%s>", from.Name, from.Address, harness.Mailbox)
	}
	if h.Get("Subject") != "Your order #1042" || h.Get("To") == "" || h.Get("Cc") == "" {
		t.Errorf("Subject/To/Cc not kept: %v", h)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(msg.Body)
	if body.String() != "Hello Jane,\r\n\r\nyour order has shipped.\r\n" {
		t.Errorf("body = %q", body.String())
	}

	log := w.Log()
	if !regexp.MustCompile(`id=\S+ from=<alerts@contoso.test> to=.*<jane@fabrikam.test>.* profile=alerts relay=127\.0\.0\.1:\d+ delay=[\d.]+ status=sent \(250 `).MatchString(log) {
		t.Errorf("no delivery log line in:\n%s", log)
	}
	checkNoSecret(t, w, res)

	// Delivered messages leave the queue.
	if q := w.Run("", "mailq"); q.Code != 0 || !strings.Contains(q.Stdout, "Mail queue is empty") {
		t.Errorf("mailq after delivery: %s", q)
	}
}

// Recipients on the command line, a lone dot ending input without -i, and
// local names resolved through aliases.
func TestArgvRecipientsDotAndAliases(t *testing.T) {
	w := newWorld(t)
	res := w.Run("Subject: dots\n\nline one\n.\nnot sent\n", "sendmail", "root")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	res = w.Run("Subject: dots\n\nline one\n.\nnot sent\n", "sendmail", "--", "www-data")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	got := w.Exchange.Received()
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2", len(got))
	}
	if strings.Join(got[0].To, ",") != "admin@contoso.test" {
		t.Errorf("root resolved to %v, want admin@contoso.test", got[0].To)
	}
	if strings.Join(got[1].To, ",") != "webmaster@contoso.test" {
		t.Errorf("www-data resolved to %v, want webmaster@contoso.test", got[1].To)
	}
	for _, m := range got {
		if bytes.Contains(m.Data, []byte("not sent")) {
			t.Errorf("input after a lone '.' line was sent without -i:\n%s", m.Data)
		}
	}

	// With -i the dot is data.
	res = w.Run("Subject: dots\n\nline one\n.\nkept\n", "sendmail", "-i", "ops@contoso.test")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	got = w.Exchange.Received()
	if last := got[len(got)-1]; !bytes.Contains(last.Data, []byte("\r\n.\r\nkept\r\n")) {
		t.Errorf("with -i the lone dot line must be sent: %q", last.Data)
	}
}

// Acceptance 2: the token cache.
func TestTokenCacheWarmRunMakesNoRequest(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 2; i++ {
		if res := w.Run(phpMessage, "sendmail", "-t", "-i"); res.Code != 0 {
			t.Fatalf("run %d: %s", i, res)
		}
		if n := w.Entra.TokenRequests(); n != 1 {
			t.Fatalf("after run %d: %d token requests, want 1", i+1, n)
		}
	}
	if n := len(w.Exchange.Received()); n != 2 {
		t.Fatalf("received %d, want 2", n)
	}
	// The cache file holds the token, not the secret, and only we can read it.
	matches, _ := filepath.Glob(filepath.Join(w.Dir, "cache", "*"))
	if len(matches) == 0 {
		t.Fatal("no token cache file written")
	}
	for _, f := range matches {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 && !strings.HasSuffix(f, ".lock") {
			t.Errorf("%s has mode %v, want no access for group/others", f, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(w.Secret)) {
			t.Errorf("%s contains the client secret", f)
		}
	}
}

func TestTokenCacheConcurrentColdRunsMakeOneRequest(t *testing.T) {
	w := newWorld(t)
	const n = 20
	var wg sync.WaitGroup
	results := make([]harness.Result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = w.Run(fmt.Sprintf("Subject: concurrent %d\n\nbody\n", i), "sendmail", "ops@contoso.test")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.Code != 0 {
			t.Errorf("run %d: %s", i, r)
		}
	}
	if got := w.Entra.TokenRequests(); got != 1 {
		t.Errorf("%d concurrent cold runs made %d token requests, want exactly 1", n, got)
	}
	if got := len(w.Exchange.Received()); got != n {
		t.Errorf("received %d messages, want %d", got, n)
	}
}

// Acceptance 3: a wrong secret. With the queue (issue 5) the default mode
// holds the message and exits 0 with a warning; -odi reports 78.
func TestBadSecret(t *testing.T) {
	w := newWorld(t)
	wrong := "wrong-value-Zq8~" + w.Secret[len(w.Secret)-4:]
	if err := os.WriteFile(filepath.Join(w.Dir, "secret"), []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	wait := w.Run(phpMessage, "sendmail", "-odi", "-t", "-i")
	if wait.Code != 78 {
		t.Errorf("-odi with a wrong secret: exit %d, want 78 (EX_CONFIG)\n%s", wait.Code, wait)
	}
	if !strings.Contains(wait.Stderr, "AADSTS7000215") || !strings.Contains(strings.ToLower(wait.Stderr), "secret") {
		t.Errorf("error does not name AADSTS7000215 and the fix:\n%s", wait.Stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(wait.Stderr), "\n") {
		if strings.Contains(line, "AADSTS7000215") && len(line) > 600 {
			t.Errorf("error line is not one short line: %q", line)
		}
	}

	def := w.Run(phpMessage, "sendmail", "-t", "-i")
	if def.Code != 0 {
		t.Errorf("default delivery with a wrong secret: exit %d, want 0 (held in the queue)\n%s", def.Code, def)
	}
	if !strings.Contains(def.Stderr, "AADSTS7000215") || !strings.Contains(def.Stderr, "held") {
		t.Errorf("stderr does not say the message is held and why:\n%s", def.Stderr)
	}
	q := w.Run("", "mailq")
	// The -odi message was refused (78): its caller keeps it, so we do
	// not. The default-mode one is held.
	if q.Code != 0 || !strings.Contains(q.Stdout, "1 Request.") || !strings.Contains(q.Stdout, "held") || !strings.Contains(q.Stdout, "AADSTS7000215") {
		t.Errorf("mailq should list 1 held message with the reason:\n%s", q)
	}
	if len(w.Exchange.Received()) != 0 {
		t.Errorf("something was delivered with a wrong secret")
	}
	for _, r := range []harness.Result{wait, def, q} {
		if strings.Contains(r.Stdout+r.Stderr, wrong) {
			t.Errorf("the (wrong) secret appears in the output:\n%s", r)
		}
	}
	checkNoSecret(t, w, wait, def, q)

	// The operator fixes the secret; a queue run sends both.
	if err := os.WriteFile(filepath.Join(w.Dir, "secret"), []byte(w.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := w.Run("", "sendmail", "-q"); r.Code != 0 {
		t.Fatalf("sendmail -q: %s", r)
	}
	if n := len(w.Exchange.Received()); n != 1 {
		t.Errorf("after the fix and -q: %d delivered, want 1", n)
	}
	if q := w.Run("", "mailq"); !strings.Contains(q.Stdout, "Mail queue is empty") {
		t.Errorf("queue not empty after delivery: %s", q)
	}
}

// Acceptance 3b: unknown configuration key.
func TestUnknownConfigKey(t *testing.T) {
	w := newWorld(t)
	w.Extra = "cliend_id = \"oops\"\n"
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	line := 0
	f, _ := os.Open(w.ConfigFile)
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		if strings.HasPrefix(sc.Text(), "cliend_id") {
			line = i
		}
	}
	f.Close()
	res := w.Run(phpMessage, "sendmail", "-t", "-i")
	if res.Code != 78 {
		t.Errorf("exit %d, want 78\n%s", res.Code, res)
	}
	want := fmt.Sprintf("%s:%d:", w.ConfigFile, line)
	if !strings.Contains(res.Stderr, want) || !strings.Contains(res.Stderr, "cliend_id") {
		t.Errorf("stderr does not name %s and the key:\n%s", want, res.Stderr)
	}
	if len(w.Exchange.Received()) != 0 {
		t.Error("a message was sent with a broken configuration")
	}
}

// Acceptance 4: no recipients; unreadable configuration.
func TestNoRecipients(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"no arguments", "Subject: x\n\nbody\n", nil},
		{"-t without recipient headers", "Subject: x\n\nbody\n", []string{"-t"}},
		{"-t with an empty group", "To: undisclosed-recipients:;\nSubject: x\n\nbody\n", []string{"-t", "-i"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := w.Run(tc.stdin, "sendmail", tc.args...)
			if res.Code != 64 && res.Code != 65 {
				t.Errorf("exit %d, want 64 or 65\n%s", res.Code, res)
			}
			if !strings.Contains(res.Stderr, "recipient") {
				t.Errorf("message does not mention recipients: %q", res.Stderr)
			}
		})
	}
	if len(w.Exchange.Received()) != 0 {
		t.Error("a message without recipients was sent")
	}
}

func TestUnreadableConfig(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"missing file", []string{"OAUTH_SENDMAIL_CONFIG=" + filepath.Join(w.Dir, "nope.toml")}, nil},
		{"directory", nil, []string{"-C", w.Dir}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := w.RunEnv(tc.env, "Subject: x\n\nbody\n", "sendmail", append(tc.args, "ops@contoso.test")...)
			if res.Code != 78 {
				t.Errorf("exit %d, want 78\n%s", res.Code, res)
			}
		})
	}
	t.Run("permission denied", func(t *testing.T) {
		if err := os.Chmod(w.ConfigFile, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(w.ConfigFile, 0o600)
		var res harness.Result
		if os.Getuid() == 0 {
			// Root reads anything: run as nobody, the way www-data would.
			for _, d := range []string{w.Dir, filepath.Dir(w.Dir), filepath.Dir(binary)} {
				os.Chmod(d, 0o755)
			}
			res = w.RunAs(65534, 65534, "Subject: x\n\nbody\n", "sendmail", "ops@contoso.test")
		} else {
			res = w.Run("Subject: x\n\nbody\n", "sendmail", "ops@contoso.test")
		}
		if res.Code != 78 {
			t.Errorf("exit %d, want 78\n%s", res.Code, res)
		}
		if !strings.Contains(res.Stderr, "permission denied") {
			t.Errorf("stderr does not say permission denied: %q", res.Stderr)
		}
	})
}
