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

	"github.com/oauth-sendmail/oauth-sendmail/config"
)

// FuzzParseArgs: argv is hostile (web applications pass user input into
// -f and recipients). Arguments are separated by NUL in the input.
func FuzzParseArgs(f *testing.F) {
	f.Add("-t\x00-i\x00-f\x00a@b")
	f.Add("-FCronDaemon\x00-i\x00-B8BITMIME\x00-oem\x00root")
	f.Add("-q30m")
	f.Add("--\x00-oQ/tmp")
	f.Add("-bs\x00-N\x00failure,delay\x00-R\x00hdrs\x00-V\x00x")
	f.Fuzz(func(t *testing.T, in string) {
		args := strings.Split(in, "\x00")
		inv, err := ParseArgs(args)
		if err != nil {
			return
		}
		for _, s := range []string{inv.Sender, inv.FullName} {
			if strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("control characters accepted: %q", s)
			}
		}
		if inv.QueueInterval < 0 {
			t.Fatalf("negative interval %v", inv.QueueInterval)
		}
	})
}

// FuzzSMTPSession feeds arbitrary input to the -bs dialogue (queue only,
// no network): it must answer with SMTP replies and never crash.
func FuzzSMTPSession(f *testing.F) {
	dir, err := os.MkdirTemp("", "fuzz-bs-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "config.toml")
	os.WriteFile(file, []byte(fmt.Sprintf("hostname = \"h.test\"\nlog = \"stderr\"\ncache_dir = %q\n[queue]\ndir = %q\n[aliases]\nroot = \"r@x.test\"\n[profile.p]\nmailbox = \"p@x.test\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
		filepath.Join(dir, "cache"), filepath.Join(dir, "spool"))), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("HELO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	f.Add("EHLO a\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<root@localhost>\r\nDATA\r\n..\r\n.\r\n")
	f.Add("BOGUS\r\n\x00\xff\r\nMAIL FROM:<a@b> SIZE=x\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now, User: "u"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		serveSMTP(ctx, cfg, &Invocation{Mode: ModeSMTP, Delivery: DeliverQueue}, env)
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\r\n"), "\r\n") {
			if line == "" {
				continue
			}
			if len(line) < 4 || line[0] < '2' || line[0] > '5' || (line[3] != ' ' && line[3] != '-') {
				t.Fatalf("not an SMTP reply: %q", line)
			}
		}
	})
}
