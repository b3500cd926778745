package e2e

// The real programs that call sendmail, each with the argv and quirks
// REFERENCE.md §C observed: PHP, PHPMailer, Symfony Mailer, git send-email,
// s-nail, GNU mailutils, and cron's exact invocation. .ci/run installs them
// and sets OAUTH_SENDMAIL_REQUIRE_CLIENTS=1, so a missing client fails CI
// instead of skipping.

import (
	"bytes"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

func need(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if strings.HasPrefix(p, "/") {
			if _, err := os.Stat(p); err == nil {
				continue
			}
		} else if _, err := exec.LookPath(p); err == nil {
			continue
		}
		if os.Getenv("OAUTH_SENDMAIL_REQUIRE_CLIENTS") != "" {
			t.Fatalf("%s is not installed (.ci/run installs it)", p)
		}
		t.Skipf("%s is not installed", p)
	}
}

// runClient runs a real client program in the world's environment.
func runClient(t *testing.T, w *harness.World, dir, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = w.Env()
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func sortedRcpts(r []string) string {
	r = append([]string(nil), r...)
	sort.Strings(r)
	return strings.Join(r, " ")
}

func header(t *testing.T, data []byte) mail.Header {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	return m.Header
}

func TestPHPMail(t *testing.T) {
	need(t, "php")
	w := newWorld(t)
	sendmail := filepath.Join(w.Bin, "sendmail")
	script := `exit(mail("jane@fabrikam.test", "Order shipped", "Hello\nsecond line\n",
		"From: Web Shop <www-data@web01.contoso.test>\r\nBcc: audit@contoso.test",
		"-f www-data@web01.contoso.test") ? 0 : 1);`
	runClient(t, w, w.Dir, "", "php", "-d", "sendmail_path="+sendmail+" -t -i", "-r", script)
	got := w.Exchange.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	if r := sortedRcpts(got[0].To); r != "audit@contoso.test jane@fabrikam.test" {
		t.Errorf("recipients %q", r)
	}
	h := header(t, got[0].Data)
	if h.Get("Bcc") != "" || !strings.Contains(h.Get("From"), harness.Mailbox) || !strings.Contains(h.Get("From"), "Web Shop") {
		t.Errorf("header not fixed: From=%q Bcc=%q", h.Get("From"), h.Get("Bcc"))
	}
	if bytes.Contains(bytes.ReplaceAll(got[0].Data, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("PHP's mixed line endings were not normalised: %q", got[0].Data)
	}
}

func TestPHPMailer(t *testing.T) {
	need(t, "php", "/usr/share/php/libphp-phpmailer/autoload.php")
	w := newWorld(t)
	script := `require "/usr/share/php/libphp-phpmailer/autoload.php";
$m = new PHPMailer\PHPMailer\PHPMailer(true);
$m->isSendmail();
$m->Sendmail = getenv("SENDMAIL");
$m->setFrom("app@web01.contoso.test", "The App");
$m->addAddress("jane@fabrikam.test", "Jane");
$m->addCC("sales@contoso.test");
$m->addBCC("audit@contoso.test");
$m->Subject = "PHPMailer test";
$m->Body = "Hello from PHPMailer.\n";
$m->send();`
	cmd := exec.Command("php", "-r", script)
	cmd.Env = w.Env("SENDMAIL=" + filepath.Join(w.Bin, "sendmail"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("PHPMailer: %v\n%s", err, out)
	}
	got := w.Exchange.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	if r := sortedRcpts(got[0].To); r != "audit@contoso.test jane@fabrikam.test sales@contoso.test" {
		t.Errorf("recipients %q", r)
	}
	if h := header(t, got[0].Data); h.Get("Bcc") != "" {
		t.Errorf("PHPMailer's Bcc header was sent")
	}
}

func symfonyScript(command string) string {
	return `require "/usr/share/php/Symfony/Component/Mailer/autoload.php";
require "/usr/share/php/Symfony/Component/Mime/autoload.php";
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mime\Email;
$t = new SendmailTransport(` + command + `);
$mailer = new Mailer($t);
for ($i = 1; $i <= 2; $i++) {
  $e = (new Email())->from("App <app@web01.contoso.test>")->to("jane@fabrikam.test")
     ->bcc("audit@contoso.test")->subject("Symfony $i")->text("Hello $i\n.\nline after a dot\n");
  $mailer->send($e);
}`
}

func TestSymfonyMailer(t *testing.T) {
	need(t, "php", "/usr/share/php/Symfony/Component/Mailer/autoload.php")
	for _, mode := range []string{"-bs", "-t -i"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			cmd := exec.Command("php", "-r", symfonyScript(`getenv("SENDMAIL") . " `+mode+`"`))
			cmd.Env = w.Env("SENDMAIL=" + filepath.Join(w.Bin, "sendmail"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("Symfony Mailer (%s): %v\n%s", mode, err, out)
			}
			got := w.Exchange.Received()
			if len(got) != 2 {
				t.Fatalf("received %d messages, want 2", len(got))
			}
			for _, m := range got {
				if r := sortedRcpts(m.To); r != "audit@contoso.test jane@fabrikam.test" {
					t.Errorf("recipients %q", r)
				}
				if !bytes.Contains(m.Data, []byte("\r\n.\r\nline after a dot")) {
					t.Errorf("the lone dot line was lost: %q", m.Data)
				}
				if h := header(t, m.Data); h.Get("Bcc") != "" {
					t.Errorf("Bcc header sent")
				}
			}
		})
	}
}

func TestGitSendEmail(t *testing.T) {
	need(t, "git")
	if err := exec.Command("git", "send-email", "--help").Run(); err != nil && strings.Contains(err.Error(), "not a git command") {
		need(t, "git-send-email-missing")
	}
	need(t, "/usr/lib/git-core/git-send-email")
	w := newWorld(t)
	repo := filepath.Join(w.Dir, "repo")
	os.MkdirAll(repo, 0o755)
	git := func(args ...string) string {
		return runClient(t, w, repo, "", "git", args...)
	}
	git("init", "-q")
	git("config", "user.name", "Dev Eloper")
	git("config", "user.email", "dev@fabrikam.test")
	for i, name := range []string{"a.txt", "b.txt"} {
		os.WriteFile(filepath.Join(repo, name), []byte(strings.Repeat("x", i+1)+"\n"), 0o644)
		git("add", name)
		git("commit", "-q", "-m", "add "+name)
	}
	git("format-patch", "-q", "-2", "-o", "patches")
	git("send-email", "--quiet", "--confirm=never", "--no-chain-reply-to",
		"--smtp-server="+filepath.Join(w.Bin, "sendmail"),
		"--to=maintainer@fabrikam.test", "--cc=list@fabrikam.test", "--bcc=me@contoso.test",
		"patches")
	got := w.Exchange.Received()
	if len(got) != 2 {
		t.Fatalf("received %d messages, want the 2 patches", len(got))
	}
	for _, m := range got {
		want := "dev@fabrikam.test list@fabrikam.test maintainer@fabrikam.test me@contoso.test"
		if r := sortedRcpts(m.To); r != want {
			t.Errorf("recipients %q, want %q", r, want)
		}
		h := header(t, m.Data)
		if !strings.Contains(h.Get("Subject"), "PATCH") || h.Get("Bcc") != "" {
			t.Errorf("Subject %q Bcc %q", h.Get("Subject"), h.Get("Bcc"))
		}
	}
}

func TestSNail(t *testing.T) {
	need(t, "s-nail")
	w := newWorld(t)
	runClient(t, w, w.Dir, "Disk /dev/sda is failing.\n", "s-nail", "-:/",
		"-Smta="+filepath.Join(w.Bin, "sendmail"), "-Sexpandaddr", "-s", "SMART error", "root", "ops@contoso.test")
	got := w.Exchange.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	if r := sortedRcpts(got[0].To); r != "admin@contoso.test ops@contoso.test" {
		t.Errorf("recipients %q (root must go to its alias)", r)
	}
}

func TestMailutils(t *testing.T) {
	need(t, "mail.mailutils")
	w := newWorld(t)
	runClient(t, w, w.Dir, "backup finished\n", "mail.mailutils", "--no-site-config", "--no-user-config",
		"-E", "set sendmail=sendmail://"+filepath.Join(w.Bin, "sendmail"), "-s", "backup", "root")
	got := w.Exchange.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	if r := sortedRcpts(got[0].To); r != "admin@contoso.test" {
		t.Errorf("recipients %q", r)
	}
}

// Debian cron: `sendmail -FCronDaemon -i -B8BITMIME -oem <MAILTO>`, its
// header set without Date or Message-ID, MAILTO with two addresses in one
// argument.
func TestCronInvocation(t *testing.T) {
	w := newWorld(t)
	msg := "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web01> /usr/local/bin/backup\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n" +
		"X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n\nbackup: 3 files, 0 errors — fin\n"
	for _, rcpt := range []string{"root", "ops@contoso.test,root@localhost"} {
		res := w.Run(msg, "sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", rcpt)
		if res.Code != 0 {
			t.Fatalf("cron invocation with %q: %s", rcpt, res)
		}
	}
	got := w.Exchange.Received()
	if len(got) != 2 {
		t.Fatalf("received %d, want 2", len(got))
	}
	if r := sortedRcpts(got[0].To); r != "admin@contoso.test" {
		t.Errorf("MAILTO=root → %q, want root's alias", r)
	}
	if r := sortedRcpts(got[1].To); r != "admin@contoso.test ops@contoso.test" {
		t.Errorf("MAILTO=a,b → %q", r)
	}
	h := header(t, got[0].Data)
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Address != harness.Mailbox || from.Name != "Cron Daemon" {
		t.Errorf("From = %q, want \"Cron Daemon\" <%s>", h.Get("From"), harness.Mailbox)
	}
	if h.Get("Date") == "" || h.Get("Message-Id") == "" {
		t.Errorf("Date/Message-ID not added: %v", h)
	}
	if !got[0].Body8Bit {
		t.Errorf("8-bit body not sent with BODY=8BITMIME")
	}
}

// -bs: a scripted SMTP dialogue with two messages and a RSET, as Symfony
// drives it (HELO, not EHLO); a bad command gets a 5xx, not a crash.
func TestSMTPOnStdio(t *testing.T) {
	w := newWorld(t)
	dialogue := strings.Join([]string{
		"HELO app.local",
		"MAIL FROM:<app@web01.contoso.test>",
		"RCPT TO:<jane@fabrikam.test>",
		"RSET",
		"MAIL FROM:<app@web01.contoso.test>",
		"RCPT TO:<jane@fabrikam.test>",
		"RCPT TO:<root@localhost>",
		"DATA",
		"Subject: one",
		"",
		"..leading dot",
		".",
		"BOGUS command",
		"MAIL FROM:<>",
		"RCPT TO:<ops@contoso.test>",
		"DATA",
		"Subject: two",
		"",
		"second",
		".",
		"QUIT",
	}, "\r\n") + "\r\n"
	res := w.Run(dialogue, "sendmail", "-bs")
	if res.Code != 0 {
		t.Fatalf("-bs: %s", res)
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\r\n")
	if !strings.HasPrefix(lines[0], "220 ") || !strings.HasPrefix(lines[len(lines)-1], "221 ") {
		t.Errorf("dialogue does not start with 220 and end with 221:\n%s", res.Stdout)
	}
	if n := len(regexp.MustCompile(`\r\n5\d\d `).FindAllString(res.Stdout, -1)); n != 1 {
		t.Errorf("bad command did not get a 5xx:\n%s", res.Stdout)
	}
	if n := strings.Count(res.Stdout, "250 2.0.0 Ok: queued as "); n != 2 {
		t.Errorf("%d messages acknowledged, want 2:\n%s", n, res.Stdout)
	}
	got := w.Exchange.Received()
	if len(got) != 2 {
		t.Fatalf("received %d, want 2", len(got))
	}
	if r := sortedRcpts(got[0].To); r != "admin@contoso.test jane@fabrikam.test" {
		t.Errorf("first message recipients %q", r)
	}
	if !bytes.Contains(got[0].Data, []byte("\r\n.leading dot\r\n")) {
		t.Errorf("first message body: %q", got[0].Data)
	}
	if r := sortedRcpts(got[1].To); r != "ops@contoso.test" {
		t.Errorf("second message recipients %q", r)
	}
}
