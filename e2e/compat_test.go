package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

// RFC 2822 Appendix A's address forms in one message: groups, comments,
// quoted names with commas and colons, an empty group, Bcc with and without
// a value.
const madness = "From: Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>\n" +
	"To:A Group(Some people)\n     :Chris Jones <c@(Chris's host.)public.example>,\n         joe@example.org,\n  John <jdoe@one.test> (my dear friend); (the end of the group)\n" +
	"Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\n" +
	"Cc: \"Mary Smith: Personal Account\" <smith@home.example>, \"Doe, Jane\" <jane@fabrikam.test>\n" +
	"Bcc:\n" +
	"Bcc: Boss <boss@contoso.test>\n" +
	"Subject: address madness\n" +
	"\n" +
	"Testing.\n"

func TestAddressMadness(t *testing.T) {
	w := newWorld(t)
	res := w.Run(madness, "sendmail", "-t", "-i")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	got := w.Exchange.Received()
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	want := "boss@contoso.test c@public.example jane@fabrikam.test jdoe@one.test joe@example.org smith@home.example"
	if r := sortedRcpts(got[0].To); r != want {
		t.Errorf("recipients\n got %q\nwant %q", r, want)
	}
	h := header(t, got[0].Data)
	if _, ok := h["Bcc"]; ok || strings.Contains(string(got[0].Data), "boss@") {
		t.Error("Bcc was sent")
	}
}

func TestVerifyAndNewaliases(t *testing.T) {
	w := newWorld(t)
	res := w.Run("", "sendmail", "-bv", "root")
	if res.Code != 0 || !strings.Contains(res.Stdout, "admin@contoso.test") || !strings.Contains(res.Stdout, "profile alerts") {
		t.Errorf("-bv root: %s", res)
	}
	res = w.Run("", "sendmail", "-bv", "nosuch")
	if res.Code != 67 || !strings.Contains(res.Stdout+res.Stderr, "[aliases]") {
		t.Errorf("-bv nosuch: %s", res)
	}
	if n := len(w.Exchange.Received()); n != 0 {
		t.Errorf("-bv sent %d messages", n)
	}
	res = w.Run("", "newaliases")
	if res.Code != 0 || !strings.Contains(res.Stdout, "2 aliases") {
		t.Errorf("newaliases: %s", res)
	}
	// [aliases] is already a table in the base file: the loop comes from
	// an aliases_file.
	af := filepath.Join(w.Dir, "aliases")
	os.WriteFile(af, []byte("loop1: loop2\nloop2: loop1\n"), 0o644)
	cfg, _ := os.ReadFile(w.ConfigFile)
	os.WriteFile(w.ConfigFile, []byte("aliases_file = \""+af+"\"\n"+string(cfg)), 0o600)
	res = w.Run("", "sendmail", "-bi")
	if res.Code != 78 || !strings.Contains(res.Stdout, "loop") {
		t.Errorf("newaliases with a loop: %s", res)
	}
}

func TestUnknownLocalRecipient(t *testing.T) {
	w := newWorld(t)
	res := w.Run("Subject: x\n\nbody\n", "sendmail", "nosuch")
	if res.Code != 67 || !strings.Contains(res.Stderr, `"nosuch"`) || !strings.Contains(res.Stderr, "[aliases]") {
		t.Errorf("%s", res)
	}
	if q := w.Run("", "mailq"); !strings.Contains(q.Stdout, "empty") {
		t.Errorf("a refused message was queued: %s", q)
	}
}

func TestUnknownFlagWarnsAndDelivers(t *testing.T) {
	w := newWorld(t)
	res := w.Run("Subject: x\n\nbody\n", "sendmail", "-Z", "-U", "-oQ/tmp", "ops@contoso.test")
	if res.Code != 0 || !strings.Contains(res.Stderr, "unknown option -Z ignored") {
		t.Errorf("%s", res)
	}
	if strings.Contains(res.Stderr, "-U") {
		t.Errorf("a known legacy option was reported without -v: %s", res.Stderr)
	}
	if len(w.Exchange.Received()) != 1 {
		t.Error("not delivered")
	}
}

func TestSizeLimitBeforeConnecting(t *testing.T) {
	w := newWorld(t)
	w.Extra = "max_message_size = \"1KB\"\n"
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	res := w.Run("Subject: big\n\n"+strings.Repeat("0123456789\n", 200), "sendmail", "ops@contoso.test")
	if res.Code != 65 || !strings.Contains(res.Stderr, "KB") {
		t.Errorf("%s", res)
	}
	if w.Exchange.Connections() != 0 {
		t.Error("connected to Exchange for a message over the limit")
	}
}

// A second profile chosen by its senders pattern, with from = "keep": the
// caller's sender stays (the mailbox has SendAs for it).
func TestProfileChoiceAndKeep(t *testing.T) {
	w := newWorld(t)
	w.Extra = profileTOML(w, "shop", "shop@contoso.test", harness.ClientID, "client_secret",
		fmt.Sprintf("from = \"keep\"\nclient_secret_file = %q\n", filepath.Join(w.Dir, "secret")))
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	w.Exchange.AllowSendAs("shop@contoso.test", "orders@shop.contoso.test")
	res := w.Run("From: Orders <orders@shop.contoso.test>\nTo: jane@fabrikam.test\nSubject: order\n\nx\n", "sendmail", "-t", "-i", "-f", "orders@shop.contoso.test")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	// root (no pattern) goes through the default profile, rewritten.
	res = w.Run("From: root\nSubject: cron\n\nx\n", "sendmail", "-i", "ops@contoso.test")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	got := w.Exchange.Received()
	if len(got) != 2 {
		t.Fatalf("received %d", len(got))
	}
	if got[0].User != "shop@contoso.test" || got[0].From != "orders@shop.contoso.test" || header(t, got[0].Data).Get("From") != "Orders <orders@shop.contoso.test>" {
		t.Errorf("keep profile: user %q from %q header %q", got[0].User, got[0].From, header(t, got[0].Data).Get("From"))
	}
	if got[1].User != harness.Mailbox || got[1].From != harness.Mailbox {
		t.Errorf("default profile: %+v", got[1])
	}
}

// -N, -R, -V reach Exchange as DSN parameters; -B8BITMIME as BODY=8BITMIME.
func TestDSNFlags(t *testing.T) {
	w := newWorld(t)
	res := w.Run("Subject: dsn\n\ncafé\n", "sendmail", "-N", "failure,delay", "-R", "hdrs", "-V", "env42", "-B8BITMIME", "-i", "ops@contoso.test")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	r := w.Exchange.Received()[0]
	if r.DSN["NOTIFY"] != "FAILURE,DELAY" || r.DSN["RET"] != "HDRS" || r.DSN["ENVID"] != "env42" || !r.Body8Bit {
		t.Errorf("%+v", r)
	}
}
