package e2e

// oauth-sendmail as a pipe(8) transport of an existing Postfix: Postfix
// keeps its own queue and hands each message to us with -odi, so our exit
// status decides: 0 delivered, 75 Postfix defers and retries, 69 Postfix
// bounces. Needs root and Debian's postfix (installed by .ci/run); it
// writes /etc/postfix/main.cf and master.cf and starts Postfix.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

const postfixMaster = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
exo       unix  -       n       n       -       -       pipe
  flags=Rq user=nobody argv=%s -C %s -odi -i -f ${sender} -- ${recipient}
`

const postfixMain = `compatibility_level = 3.6
myhostname = relay.example.test
mydomain = example.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
default_transport = exo
relay_transport = exo
exo_destination_recipient_limit = 1
maillog_file_prefixes = /
maillog_file = %s
smtputf8_enable = no
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
bounce_queue_lifetime = 0
`

func TestAsPostfixTransport(t *testing.T) {
	need(t, "/usr/sbin/postfix")
	if os.Getuid() != 0 {
		if os.Getenv("OAUTH_SENDMAIL_REQUIRE_CLIENTS") != "" {
			t.Fatal("the Postfix test needs root")
		}
		t.Skip("needs root to run Postfix")
	}
	if _, err := os.Stat("/etc/postfix/main.cf"); err == nil && os.Getenv("OAUTH_SENDMAIL_REQUIRE_CLIENTS") == "" {
		t.Skip("/etc/postfix/main.cf exists: not overwriting a real Postfix configuration")
	}
	w := newWorld(t)
	// The pipe runs us as nobody: the files we read must be nobody's.
	for d := w.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	filepath.Walk(w.Dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, 65534, 65534)
		}
		return nil
	})
	logFile := filepath.Join(w.Dir, "postfix.log")
	os.WriteFile("/etc/postfix/main.cf", []byte(fmt.Sprintf(postfixMain, logFile)), 0o644)
	os.WriteFile("/etc/postfix/master.cf", []byte(fmt.Sprintf(postfixMaster, filepath.Join(w.Bin, "sendmail"), w.ConfigFile)), 0o644)
	t.Cleanup(func() {
		exec.Command("/usr/sbin/postfix", "stop").Run()
		exec.Command("/usr/sbin/postsuper", "-d", "ALL").Run()
		os.Remove("/etc/postfix/main.cf")
		os.Remove("/etc/postfix/master.cf")
	})
	exec.Command("/usr/sbin/postfix", "stop").Run()
	if out, err := exec.Command("/usr/sbin/postfix", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		out = append(out, log...)
		t.Fatalf("postfix start: %v\n%s", err, out)
	}
	postfixSend := func(subject string) {
		t.Helper()
		cmd := exec.Command("/usr/sbin/sendmail", "-f", "app@relay.example.test", "jane@fabrikam.test")
		cmd.Stdin = strings.NewReader("From: App <app@relay.example.test>\nTo: jane@fabrikam.test\nSubject: " + subject + "\n\nvia postfix\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postfix sendmail: %v\n%s", err, out)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for i := 0; i < 300; i++ {
			if cond() {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		log, _ := os.ReadFile(logFile)
		t.Fatalf("waiting for %s; postfix log:\n%s", what, log)
	}
	received := func(subject string) []fakeexo.Received {
		var out []fakeexo.Received
		for _, r := range w.Exchange.Received() {
			if strings.Contains(string(r.Data), subject) {
				out = append(out, r)
			}
		}
		return out
	}

	// 1. Delivered.
	postfixSend("through postfix")
	waitFor("delivery through the pipe", func() bool { return len(received("Subject: through postfix")) == 1 })
	r := received("Subject: through postfix")[0]
	if r.From != harness.Mailbox || strings.Join(r.To, ",") != "jane@fabrikam.test" {
		t.Errorf("envelope %q → %v", r.From, r.To)
	}

	// 2. Exchange says 4xx: we exit 75, Postfix defers and retries.
	w.Exchange.Inject(fakeexo.Fault{Stage: "mail", Code: 451, Enhanced: "4.7.0", Text: "Temporary server error", Times: -1})
	postfixSend("deferred once")
	waitFor("Postfix to defer", func() bool {
		log, _ := os.ReadFile(logFile)
		return strings.Contains(string(log), "status=deferred")
	})
	if len(received("Subject: deferred once")) != 0 {
		t.Fatal("delivered despite the fault")
	}
	w.Exchange.ClearFaults()
	exec.Command("/usr/sbin/postqueue", "-f").Run()
	waitFor("the deferred message after the fault", func() bool { return len(received("Subject: deferred once")) == 1 })

	// 3. Exchange says 5xx: we exit 69, Postfix bounces to the sender.
	w.Exchange.Inject(fakeexo.Fault{Stage: "data", Code: 550, Enhanced: "5.7.708", Text: "Service unavailable. Access denied, traffic not accepted from this IP."})
	postfixSend("bounced")
	waitFor("the bounce to the sender", func() bool {
		for _, r := range w.Exchange.Received() {
			if strings.Join(r.To, ",") == "app@relay.example.test" && strings.Contains(string(r.Data), "Undelivered Mail") {
				return true
			}
		}
		return false
	})
	if len(received("Subject: bounced\r\n\r\nvia")) != 0 {
		t.Error("the refused message was delivered")
	}
}
