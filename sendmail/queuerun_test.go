package sendmail

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
)

// world runs Submit and QueueRun in-process against the fakes.
type world struct {
	cfg   *config.Config
	entra *fakeexo.Entra
	exo   *fakeexo.Exchange
	dir   string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ca, err := fakeexo.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e, err := fakeexo.NewEntra(ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	e.AddSecretApp("contoso.test", "app", "secret-value")
	x, err := fakeexo.NewExchange(ca, func(user, token string) error { _, err := e.CheckToken(token); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	dir := t.TempDir()
	ca.WriteCertFile(filepath.Join(dir, "ca.pem"))
	os.WriteFile(filepath.Join(dir, "secret"), []byte("secret-value"), 0o600)
	file := filepath.Join(dir, "config.toml")
	os.WriteFile(file, []byte(fmt.Sprintf(`hostname = "web01.test"
log = %q
cache_dir = %q
[queue]
dir = %q
rate_per_minute = 0
[profile.alerts]
mailbox = "alerts@contoso.test"
tenant = "contoso.test"
client_id = "app"
client_secret_file = %q
authority = %q
smtp = %q
ca_file = %q
`, filepath.Join(dir, "log"), filepath.Join(dir, "cache"), filepath.Join(dir, "spool"), filepath.Join(dir, "secret"), e.URL, x.Addr, filepath.Join(dir, "ca.pem"))), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return &world{cfg: cfg, entra: e, exo: x, dir: dir}
}

func (w *world) env(stdin string) (Env, *bytes.Buffer) {
	var errb bytes.Buffer
	return Env{Stdin: strings.NewReader(stdin), Stdout: &bytes.Buffer{}, Stderr: &errb,
		Getenv: func(string) string { return "" }, Now: time.Now, User: "tester"}, &errb
}

func TestQueueRunProgressAndHeldProfile(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 3; i++ {
		env, _ := w.env(fmt.Sprintf("Subject: %d\n\nx\n", i))
		if _, err := Submit(context.Background(), w.cfg, &Invocation{Delivery: DeliverQueue, Recipients: []string{"a@x.test"}}, env); err != nil {
			t.Fatal(err)
		}
	}
	// A wrong secret: the first item is held, the other two are held
	// without asking Entra again.
	os.WriteFile(filepath.Join(w.dir, "secret"), []byte("wrong"), 0o600)
	env, _ := w.env("")
	st, err := QueueRun(context.Background(), w.cfg, env, QueueRunOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Held != 3 || w.entra.TokenRequests() != 1 {
		t.Errorf("stats %+v, %d token requests (want 3 held, 1 request)", st, w.entra.TokenRequests())
	}
	os.WriteFile(filepath.Join(w.dir, "secret"), []byte("secret-value"), 0o600)
	var calls [][2]int
	st, err = QueueRun(context.Background(), w.cfg, env, QueueRunOptions{Progress: func(d, n int) { calls = append(calls, [2]int{d, n}) }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 3 || len(w.exo.Received()) != 3 {
		t.Errorf("after the fix: %+v", st)
	}
	if len(calls) != 3 || calls[len(calls)-1] != [2]int{3, 3} || calls[0] != [2]int{1, 3} {
		t.Errorf("progress calls %v", calls)
	}
}

func TestSubmitInProcess(t *testing.T) {
	w := newWorld(t)
	env, errb := w.env("From: root (Cron Daemon)\nTo: root\nSubject: x\n\nbody\n")
	_, err := Submit(context.Background(), w.cfg, &Invocation{Recipients: []string{"ops@x.test"}, IgnoreDots: true}, env)
	if err != nil {
		t.Fatalf("%v %s", err, errb)
	}
	got := w.exo.Received()
	if len(got) != 1 || !strings.Contains(string(got[0].Data), `From: "Cron Daemon" <alerts@contoso.test>`) {
		t.Errorf("%+v", got)
	}
}

func TestSMTPErrorMapping(t *testing.T) {
	for code, want := range map[int]int{ExUsage: 554, ExDataErr: 554, ExNoUser: 550, ExUnavailable: 550, ExConfig: 451, ExTempFail: 451} {
		se, ok := smtpError(&ExitError{Code: code, Err: fmt.Errorf("x\r\ny")}).(*smtp.SMTPError)
		if !ok || se.Code != want {
			t.Errorf("exit %d → %v, want %d", code, se, want)
			continue
		}
		if strings.ContainsAny(se.Message, "\r\n") {
			t.Errorf("reply text has a line break: %q", se.Message)
		}
	}
}
