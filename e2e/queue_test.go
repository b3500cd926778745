package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
	"github.com/oauth-sendmail/oauth-sendmail/queue"
)

func mailqCount(t *testing.T, w *harness.World) string {
	t.Helper()
	q := w.Run("", "mailq")
	if q.Code != 0 {
		t.Fatalf("mailq: %s", q)
	}
	return q.Stdout
}

// messageIDs counts the Message-IDs the fake received.
func messageIDs(t *testing.T, w *harness.World) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, r := range w.Exchange.Received() {
		m, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids[m.Header.Get("Message-Id")]++
	}
	return ids
}

// Acceptance 1: temporary faults queue the message (exit 0); after the fault
// `sendmail -q` delivers it once and the queue is empty.
func TestTemporaryFaultsQueue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(w *harness.World)
		clear  func(w *harness.World)
	}{
		{"421 at greeting", func(w *harness.World) {
			w.Exchange.Inject(fakeexo.Fault{Stage: "greeting", Code: 421, Enhanced: "4.3.2", Text: "Service not available, closing transmission channel", Times: -1})
		}, nil},
		{"432 at MAIL", func(w *harness.World) {
			w.Exchange.Inject(fakeexo.Fault{Stage: "mail", Code: 432, Enhanced: "4.3.2", Text: "STOREDRV.ClientSubmit; sender thread limit exceeded", Times: -1})
		}, nil},
		{"451 at end of DATA", func(w *harness.World) {
			w.Exchange.Inject(fakeexo.Fault{Stage: "data", Code: 451, Enhanced: "4.7.0", Text: "Temporary server error. Please try again later", Times: -1})
		}, nil},
		{"dropped mid-DATA", func(w *harness.World) {
			w.Exchange.Inject(fakeexo.Fault{Stage: "drop-mid-data", Times: -1})
		}, nil},
		{"token endpoint 503", func(w *harness.World) {
			w.Entra.FailNext(-1, fakeexo.EntraFault{Status: 503, Error: "temporarily_unavailable", Description: "AADSTS50033: service busy"})
		}, func(w *harness.World) { w.Entra.ClearFaults() }},
		{"SMTP port closed", func(w *harness.World) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			closed := ln.Addr().String()
			ln.Close()
			cfg, _ := os.ReadFile(w.ConfigFile)
			os.WriteFile(w.ConfigFile, bytes.Replace(cfg, []byte(w.Exchange.Addr), []byte(closed), 1), 0o600)
		}, func(w *harness.World) { w.WriteConfig() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.inject(w)
			res := w.Run(phpMessage, "sendmail", "-t", "-i")
			if res.Code != 0 {
				t.Fatalf("sendmail must exit 0 with the message queued: %s", res)
			}
			if len(w.Exchange.Received()) != 0 {
				t.Fatal("delivered despite the fault")
			}
			if q := mailqCount(t, w); !strings.Contains(q, "1 Request.") || !strings.Contains(q, "1 attempt") {
				t.Fatalf("mailq: %s", q)
			}
			if !strings.Contains(w.Log(), "status=deferred") || !strings.Contains(w.Log(), "next try") {
				t.Errorf("no deferred log line:\n%s", w.Log())
			}
			// -odi reports the real outcome.
			if r := w.Run(phpMessage, "sendmail", "-odi", "-t", "-i"); r.Code != 75 {
				t.Errorf("-odi: exit %d, want 75\n%s", r.Code, r)
			}
			w.Exchange.ClearFaults()
			if tc.clear != nil {
				tc.clear(w)
			}
			if r := w.Run("", "sendmail", "-q"); r.Code != 0 {
				t.Fatalf("sendmail -q: %s", r)
			}
			if n := len(w.Exchange.Received()); n != 1 {
				t.Errorf("delivered %d times, want once", n)
			}
			if q := mailqCount(t, w); !strings.Contains(q, "empty") {
				t.Errorf("queue not empty: %s", q)
			}
		})
	}
}

// Acceptance 2: permanent refusals go to failed/ with the remedy, exit 69;
// `queue retry --failed` delivers after the fix.
func TestPermanentFaultsFail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  fakeexo.Fault
		remedy string
	}{
		{"SendAsDenied", fakeexo.Fault{Stage: "data", Code: 554, Enhanced: "5.2.252", Text: "SendAsDenied; alerts@contoso.test not allowed to send as x@y; STOREDRV.Submission.Exception:SendAsDeniedException"}, "Add-RecipientPermission"},
		{"SMTP AUTH disabled", fakeexo.Fault{Stage: "auth", Code: 535, Enhanced: "5.7.139", Text: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}, "-SmtpClientAuthenticationDisabled $false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.Exchange.Inject(tc.fault)
			res := w.Run(phpMessage, "sendmail", "-t", "-i")
			if res.Code != 69 || !strings.Contains(res.Stderr, tc.remedy) {
				t.Fatalf("exit %d, want 69 with %q\n%s", res.Code, tc.remedy, res)
			}
			q := mailqCount(t, w)
			if !strings.Contains(q, "1 failed") || !strings.Contains(q, tc.remedy) {
				t.Errorf("mailq does not show the failed item with its remedy:\n%s", q)
			}
			r := w.Run("", "oauth-sendmail", "queue", "retry", "--failed")
			if r.Code != 0 || !strings.Contains(r.Stdout, "1 sent") {
				t.Fatalf("queue retry --failed: %s", r)
			}
			if n := len(w.Exchange.Received()); n != 1 {
				t.Errorf("delivered %d, want 1", n)
			}
			if q := mailqCount(t, w); !strings.Contains(q, "empty") {
				t.Errorf("queue not empty: %s", q)
			}
		})
	}
}

// Partial success: the accepted recipients are not sent again.
func TestPartialSuccessOnlyRetriesTheRest(t *testing.T) {
	w := newWorld(t)
	w.Exchange.Inject(fakeexo.Fault{Stage: "rcpt", Rcpt: "john@fabrikam.test", Code: 452, Enhanced: "4.5.3", Text: "Too many recipients"})
	if r := w.Run(phpMessage, "sendmail", "-t", "-i"); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	if got := w.Exchange.Received(); len(got) != 1 || len(got[0].To) != 3 {
		t.Fatalf("first attempt: %+v", got)
	}
	if q := mailqCount(t, w); !strings.Contains(q, "john@fabrikam.test") || strings.Contains(q, "jane@fabrikam.test") {
		t.Errorf("queue should hold only the deferred recipient:\n%s", q)
	}
	w.Run("", "sendmail", "-q")
	got := w.Exchange.Received()
	if len(got) != 2 || strings.Join(got[1].To, ",") != "john@fabrikam.test" {
		t.Errorf("retry sent to %v, want only john", got[len(got)-1].To)
	}
}

// Acceptance 3: SIGKILL at each step of the enqueue leaves no item or a
// whole one; nothing half-written is ever sent.
func TestCrashDuringEnqueue(t *testing.T) {
	for _, step := range []string{"after-msg-write", "after-msg-fsync", "after-env-write", "before-rename", "after-rename"} {
		t.Run(step, func(t *testing.T) {
			w := newWorld(t)
			res := w.RunEnv([]string{"OAUTH_SENDMAIL_CRASH_AT=" + step}, phpMessage, "sendmail", "-t", "-i")
			if res.Code == 0 {
				t.Fatalf("exited 0 although killed at %s", step)
			}
			q := mailqCount(t, w)
			switch step {
			case "after-rename":
				if !strings.Contains(q, "1 Request.") {
					t.Fatalf("after the rename the item must be queued:\n%s", q)
				}
			default:
				if !strings.Contains(q, "empty") {
					t.Fatalf("a half-written item is visible:\n%s", q)
				}
			}
			w.Run("", "sendmail", "-q")
			got := w.Exchange.Received()
			if step == "after-rename" {
				if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("your order has shipped.\r\n")) {
					t.Errorf("the whole message was not delivered: %+v", got)
				}
			} else if len(got) != 0 {
				t.Errorf("a half-written message was sent")
			}
		})
	}
}

// Acceptance 4: 200 concurrent submissions while the fake throttles half.
func TestConcurrentSubmissionsUnderThrottling(t *testing.T) {
	if testing.Short() {
		t.Skip("200 processes")
	}
	w := newWorld(t)
	const n = 200
	w.Exchange.Inject(fakeexo.Fault{Stage: "mail", Code: 432, Enhanced: "4.3.2", Text: "STOREDRV.ClientSubmit; sender thread limit exceeded", Times: n / 2})
	var wg sync.WaitGroup
	codes := make([]int, n)
	sem := make(chan struct{}, 50)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			codes[i] = w.Run(fmt.Sprintf("Subject: load %d\n\nbody %d\n", i, i), "sendmail", "ops@contoso.test").Code
		}(i)
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Fatalf("submission %d exited %d", i, c)
		}
	}
	if got := len(w.Exchange.Received()); got != n/2 {
		t.Errorf("%d delivered right away, want %d (the rest throttled)", got, n/2)
	}
	if r := w.Run("", "oauth-sendmail", "queue", "flush"); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	ids := messageIDs(t, w)
	if len(ids) != n {
		t.Errorf("%d distinct messages delivered, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}

// fillQueue writes n messages straight into the spool with the queue
// package, as `sendmail -odq` would, without n process starts.
func fillQueue(t *testing.T, w *harness.World, n int) {
	t.Helper()
	q, err := queue.Open(w.SpoolDir(), 0o700)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		d, err := q.Create()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(d, "From: <%s>\r\nTo: <ops@contoso.test>\r\nMessage-ID: <bulk-%d@web01.contoso.test>\r\nSubject: bulk %d\r\n\r\nbody\r\n", harness.Mailbox, i, i)
		if _, err := d.Commit(queue.Envelope{Profile: "alerts", Sender: harness.Mailbox, Recipients: []string{"ops@contoso.test"}, NextAttempt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// Acceptance 5: two queue runners at once deliver each item exactly once.
func TestTwoRunnersDeliverOnce(t *testing.T) {
	w := newWorld(t)
	fillQueue(t, w, 100)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := w.Run("", "oauth-sendmail", "queue", "run"); r.Code != 0 {
				t.Errorf("queue run: %s", r)
			}
		}()
	}
	wg.Wait()
	ids := messageIDs(t, w)
	if len(ids) != 100 {
		t.Errorf("%d distinct delivered, want 100", len(ids))
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}

// Acceptance 6: flushing 1,000 messages reuses connections.
func TestFlushReusesConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 messages")
	}
	w := newWorld(t)
	fillQueue(t, w, 1000)
	r := w.Run("", "oauth-sendmail", "queue", "run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "1000 sent") {
		t.Fatalf("%s", r)
	}
	if c := w.Exchange.Connections(); c > 3 {
		t.Errorf("%d connections for 1,000 messages, want a handful", c)
	}
	if n := w.Entra.TokenRequests(); n != 1 {
		t.Errorf("%d token requests", n)
	}
}

// A notice goes to notify_to once an item is given up after max_age, and a
// notice is never noticed about.
func TestMaxAgeNotice(t *testing.T) {
	w := newWorld(t)
	cfg, _ := os.ReadFile(w.ConfigFile)
	cfg = bytes.Replace(cfg, []byte("[queue]\n"), []byte("[queue]\nmax_age = \"1s\"\nnotify_to = \"postmaster@contoso.test\"\n"), 1)
	os.WriteFile(w.ConfigFile, cfg, 0o600)
	w.Exchange.Inject(fakeexo.Fault{Stage: "rcpt", Rcpt: "jane@fabrikam.test", Code: 450, Enhanced: "4.2.0", Text: "mailbox busy", Times: -1})
	if r := w.Run("Subject: old\n\nx\n", "sendmail", "jane@fabrikam.test"); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	time.Sleep(1100 * time.Millisecond) // let the item pass max_age
	w.Run("", "sendmail", "-q")
	q := mailqCount(t, w)
	if !strings.Contains(q, "1 failed") || !strings.Contains(q, "gave up") {
		t.Errorf("mailq after max_age:\n%s", q)
	}
	var notices int
	for _, r := range w.Exchange.Received() {
		if strings.Join(r.To, ",") == "postmaster@contoso.test" && bytes.Contains(r.Data, []byte("Undelivered mail")) {
			notices++
		}
	}
	if notices != 1 {
		t.Errorf("%d notices, want 1", notices)
	}
}

// `sendmail -q1s` keeps running the queue until it is told to stop.
func TestIntervalRunner(t *testing.T) {
	w := newWorld(t)
	cmd := exec.Command(filepath.Join(w.Bin, "sendmail"), "-q1s")
	cmd.Env = w.Env()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if r := w.Run("Subject: later\n\nx\n", "sendmail", "-odq", "ops@contoso.test"); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	for i := 0; i < 100 && len(w.Exchange.Received()) == 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if len(w.Exchange.Received()) != 1 {
		t.Error("the interval runner did not deliver the queued message")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Errorf("runner did not stop cleanly on SIGTERM: %v", err)
	}
}

func TestQueueShowAndDrop(t *testing.T) {
	w := newWorld(t)
	w.Run("Subject: keep me\n\nx\n", "sendmail", "-odq", "ops@contoso.test")
	ents, _ := os.ReadDir(filepath.Join(w.SpoolDir(), "new"))
	if len(ents) != 1 {
		t.Fatalf("%d queued", len(ents))
	}
	id := ents[0].Name()
	r := w.Run("", "oauth-sendmail", "queue", "show", id)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Subject: keep me") || !strings.Contains(r.Stdout, `"ops@contoso.test"`) {
		t.Errorf("show: %s", r)
	}
	if r := w.Run("", "oauth-sendmail", "queue", "drop", id); r.Code != 0 {
		t.Errorf("drop: %s", r)
	}
	if q := mailqCount(t, w); !strings.Contains(q, "empty") {
		t.Errorf("after drop: %s", q)
	}
	if r := w.Run("", "oauth-sendmail", "queue", "show", id); r.Code == 0 {
		t.Error("show of a dropped message succeeded")
	}
}
