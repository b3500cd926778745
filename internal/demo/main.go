// Command demo runs the main job end to end on this machine: it builds
// oauth-sendmail, starts a fake Entra ID and a fake Exchange Online on
// 127.0.0.1, writes a throw-away profile pointing at them, pipes a PHP-style
// message into `sendmail -t -i` and shows what Exchange received and the log
// line. Run it with `go run ./internal/demo`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

// phpMessage is what PHP's mail() hands to `sendmail -t -i`: LF line
// endings, a From naming the web server's user, a Bcc that must not be sent.
const phpMessage = `To: Jane Customer <jane@fabrikam.test>
Cc: sales@contoso.test
Bcc: audit@contoso.test
Subject: Your order #1042
From: Web Shop <www-data@web01.contoso.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8

Hello Jane,

your order #1042 has shipped.
-- 
The Web Shop
`

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "oauth-sendmail-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("building oauth-sendmail")
	bin, err := harness.Build(dir)
	if err != nil {
		return err
	}
	step("starting fake Entra ID and fake Exchange Online on 127.0.0.1")
	w, err := harness.NewWorld(bin, dir)
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Printf("  Entra ID token endpoint: %s%s/oauth2/v2.0/token\n", w.Entra.URL, harness.Tenant)
	fmt.Printf("  Exchange SMTP submission: %s (STARTTLS + XOAUTH2)\n", w.Exchange.Addr)

	step("the profile (" + w.ConfigFile + ")")
	cfg, err := os.ReadFile(w.ConfigFile)
	if err != nil {
		return err
	}
	fmt.Print(indent(string(cfg)))

	step("PHP mail() runs: sendmail -t -i   with this message on stdin")
	fmt.Print(indent(phpMessage))
	res := w.Run(phpMessage, "sendmail", "-t", "-i")
	fmt.Printf("  exit status: %d\n", res.Code)
	if res.Stderr != "" {
		fmt.Print(indent("stderr: " + res.Stderr))
	}
	if res.Code != 0 {
		return fmt.Errorf("sendmail failed")
	}

	got := w.Exchange.Received()
	if len(got) != 1 {
		return fmt.Errorf("fake Exchange received %d messages, want 1", len(got))
	}
	m := got[0]
	step("what fake Exchange Online received")
	fmt.Printf("  AUTH XOAUTH2 user: %s\n", m.User)
	fmt.Printf("  MAIL FROM:<%s>\n", m.From)
	for _, r := range m.To {
		fmt.Printf("  RCPT TO:<%s>\n", r)
	}
	fmt.Println("  DATA:")
	fmt.Print(indent(strings.ReplaceAll(string(m.Data), "\r\n", "⏎\n")))

	step("the log line (" + filepath.Base(w.LogFile()) + ")")
	fmt.Print(indent(w.Log()))

	step("a second message reuses the cached token")
	before := w.Entra.TokenRequests()
	res = w.Run("Subject: cron job output\n\nall good\n", "sendmail", "root")
	fmt.Printf("  sendmail root → exit %d; token requests before %d, after %d; messages at Exchange: %d\n",
		res.Code, before, w.Entra.TokenRequests(), len(w.Exchange.Received()))
	if res.Code != 0 {
		return fmt.Errorf("second send failed: %s", res.Stderr)
	}
	fmt.Println("\ndemo finished: mail went through Entra ID (OAuth client credentials) and Exchange Online (XOAUTH2).")
	return nil
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}
