package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func render(t *testing.T, in string, opts Options) string {
	t.Helper()
	m, err := Read(strings.NewReader(in), opts)
	if err != nil {
		t.Fatalf("Read(%q): %v", in, err)
	}
	var b bytes.Buffer
	n, err := m.WriteTo(&b)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d", n, b.Len())
	}
	return b.String()
}

func TestLineEndingsAndDots(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opts     Options
		want     string
	}{
		{"LF", "Subject: a\n\nbody\nline\n", Options{}, "Subject: a\r\n\r\nbody\r\nline\r\n"},
		{"CRLF", "Subject: a\r\n\r\nbody\r\n", Options{}, "Subject: a\r\n\r\nbody\r\n"},
		{"bare CR", "Subject: a\r\rbody\rline\r", Options{}, "Subject: a\r\n\r\nbody\r\nline\r\n"},
		{"mixed (PHP)", "To: x@y\r\nSubject: a\r\n\r\nbody\nline\r\nend", Options{}, "To: x@y\r\nSubject: a\r\n\r\nbody\r\nline\r\nend\r\n"},
		{"no final newline", "Subject: a\n\nbody", Options{}, "Subject: a\r\n\r\nbody\r\n"},
		{"lone dot ends input", "Subject: a\n\none\n.\ntwo\n", Options{}, "Subject: a\r\n\r\none\r\n"},
		{"lone dot CRLF", "Subject: a\r\n\r\none\r\n.\r\ntwo\r\n", Options{}, "Subject: a\r\n\r\none\r\n"},
		{"final lone dot", "Subject: a\n\none\n.", Options{}, "Subject: a\r\n\r\none\r\n"},
		{"-i keeps the dot", "Subject: a\n\none\n.\ntwo\n", Options{IgnoreDots: true}, "Subject: a\r\n\r\none\r\n.\r\ntwo\r\n"},
		{"leading dots not unstuffed", "Subject: a\n\n..x\n.y\n", Options{}, "Subject: a\r\n\r\n..x\r\n.y\r\n"},
		{"mbox From line", "From alice@x Mon Jan  1 00:00:00 2024\nSubject: a\n\nb\n", Options{}, "Subject: a\r\n\r\nb\r\n"},
		{"only headers", "Subject: a\nTo: b@c\n", Options{}, "Subject: a\r\nTo: b@c\r\n\r\n"},
		{"no header", "hello world\nsecond\n", Options{}, "\r\nhello world\r\nsecond\r\n"},
		{"non-header line ends header", "Subject: a\nthis is body\n", Options{}, "Subject: a\r\n\r\nthis is body\r\n"},
		{"folded header", "Subject: a\n  continued\n\nb\n", Options{}, "Subject: a\r\n  continued\r\n\r\nb\r\n"},
		{"empty input", "", Options{}, "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.in, tc.opts)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLongBodyLineStreamsInPieces(t *testing.T) {
	long := strings.Repeat("x", 200000)
	got := render(t, "Subject: a\n\n"+long+"\r\n.\r\n", Options{})
	body := strings.TrimPrefix(got, "Subject: a\r\n\r\n")
	lines := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
	if strings.Join(lines, "") != long {
		t.Fatalf("long line mangled (len %d)", len(got))
	}
	for _, l := range lines {
		if len(l) > MaxBodyLine {
			t.Fatalf("a body line of %d characters was sent", len(l))
		}
	}
	if len(lines) != 201 {
		t.Errorf("%d lines, want 201 (200000/998 rounded up)", len(lines))
	}
}

// CR at the very end of the reader's buffer and its LF in the next read.
func TestCRLFSplitAcrossReads(t *testing.T) {
	r := io.MultiReader(strings.NewReader("Subject: a\r"), strings.NewReader("\n\r"), strings.NewReader("\nbody\r"), strings.NewReader("\nend\r\n"))
	m, err := Read(oneByteReader{r}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	m.WriteTo(&b)
	if b.String() != "Subject: a\r\n\r\nbody\r\nend\r\n" {
		t.Errorf("%q", b.String())
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestHeaderTooLarge(t *testing.T) {
	in := "Subject: " + strings.Repeat("a", 5000) + "\n\nbody\n"
	_, err := Read(strings.NewReader(in), Options{MaxHeaderBytes: 1024})
	var me *Error
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "larger than 1 KiB") {
		t.Errorf("err = %v", err)
	}
	// Many small fields count too.
	in = strings.Repeat("X-A: b\n", 1000) + "\nbody\n"
	if _, err := Read(strings.NewReader(in), Options{MaxHeaderBytes: 1024}); err == nil {
		t.Error("1000 fields over 1 KiB accepted")
	}
}

func TestRecipients(t *testing.T) {
	for _, tc := range []struct {
		name, header, want string
	}{
		{"simple", "To: a@x.test\nCc: b@x.test\nBcc: c@x.test\n", "a@x.test b@x.test c@x.test"},
		{"names and quotes", "To: \"Doe, John\" <john@x.test>, Jane <jane@x.test>\n", "john@x.test jane@x.test"},
		{"local names", "To: root, www-data\n", "root www-data"},
		{"cron comment", "To: root (Cron Daemon)\n", "root"},
		{"group", "To: Team: a@x.test, b@x.test;, c@x.test\n", "a@x.test b@x.test c@x.test"},
		{"empty group", "To: undisclosed-recipients:;\n", ""},
		{"duplicates", "To: a@x.test\nCc: A@X.test\n", "a@x.test"},
		{"empty Bcc", "To: a@x.test\nBcc:\n", "a@x.test"},
		{"resent wins", "To: a@x.test\nResent-To: r@x.test\nResent-Bcc: s@x.test\n", "r@x.test s@x.test"},
		{"folded", "To: a@x.test,\n b@x.test\n", "a@x.test b@x.test"},
		{"encoded name", "To: =?UTF-8?B?SsO8cmdlbg==?= <j@x.test>\n", "j@x.test"},
		// RFC 2822 Appendix A.1.2, A.1.3, A.5 ("address madness").
		{"rfc a.1.2", "To: \"Mary Smith: Personal Account\" <smith@home.example>\nCc: John Doe <jdoe@machine.example>\n", "smith@home.example jdoe@machine.example"},
		{"rfc a.1.3", "To: A Group:Chris Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\nCc: Undisclosed recipients:;\n", "c@a.test joe@where.test jdoe@one.test"},
		{"rfc a.5", "To:(Mary Smith) (The Builder) <mary@example.net>\nCc: Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>\n", "mary@example.net pete@silly.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Read(strings.NewReader(tc.header+"\nbody\n"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Recipients()
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}

func TestParseAddressListRejectsInjection(t *testing.T) {
	for _, s := range []string{"a@b\r\nRCPT TO:<x@evil>", "a@b\x00", "<a@b> <c@d>", "a b@c", "a@b>", "\"unclosed@x"} {
		if got, err := ParseAddressList(s); err == nil {
			t.Errorf("%q accepted as %q", s, got)
		}
	}
	got, err := ParseAddressList("a@x.test,b@y.test")
	if err != nil || strings.Join(got, " ") != "a@x.test b@y.test" {
		t.Errorf("cron's MAILTO list: %v %v", got, err)
	}
}

func TestFromAndRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, from, fallback, wantFrom, wantOrig string
	}{
		{"display name kept", "Web Shop <www-data@web01.test>", "", `"Web Shop" <alerts@contoso.test>`, "Web Shop <www-data@web01.test>"},
		{"cron", "root (Cron Daemon)", "CronDaemon", `"Cron Daemon" <alerts@contoso.test>`, "root (Cron Daemon)"},
		{"bare word", "Logwatch", "", `<alerts@contoso.test>`, "Logwatch"},
		{"-F fallback", "root", "Backup Job", `"Backup Job" <alerts@contoso.test>`, "root"},
		{"already the mailbox", "Alerts <alerts@contoso.test>", "", `"Alerts" <alerts@contoso.test>`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := Read(strings.NewReader("From: "+tc.from+"\nSender: x@y.test\n\nb\n"), Options{})
			m.RewriteFrom("alerts@contoso.test", tc.fallback)
			got := m.Header.Get("From")
			if tc.name == "bare word" {
				tc.wantFrom = `"Logwatch" <alerts@contoso.test>`
			}
			if got != tc.wantFrom && strings.ReplaceAll(got, `"`, "") != strings.ReplaceAll(tc.wantFrom, `"`, "") {
				t.Errorf("From = %q, want %q", got, tc.wantFrom)
			}
			if o := m.Header.Get("X-Original-From"); o != tc.wantOrig {
				t.Errorf("X-Original-From = %q, want %q", o, tc.wantOrig)
			}
		})
	}
}

func TestFixAddsWhatIsMissing(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m, _ := Read(strings.NewReader("Subject: x\n\nb\n"), Options{})
	m.Fix(FixOptions{Hostname: "web01.test", Now: now, Sender: "root@web01.test", FullName: "CronDaemon"})
	if d, err := m.Header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date %v %v", d, err)
	}
	if id, err := m.Header.MessageID(); err != nil || !strings.HasSuffix(id, "@web01.test") {
		t.Errorf("Message-ID %q %v", id, err)
	}
	if f := m.Header.Get("From"); !strings.Contains(f, "CronDaemon") || !strings.Contains(f, "<root@web01.test>") {
		t.Errorf("From %q", f)
	}
	// Existing values are kept.
	m2, _ := Read(strings.NewReader("Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <keep@x>\nFrom: a@b.test\n\nb\n"), Options{})
	m2.Fix(FixOptions{Hostname: "h", Now: now, Sender: "s@h"})
	if m2.Header.Get("Message-Id") != "<keep@x>" || !strings.Contains(m2.Header.Get("Date"), "2024") || m2.Header.Get("From") != "a@b.test" {
		t.Errorf("existing fields changed: %v", m2.Header)
	}
}

func TestStripBccAndEightBit(t *testing.T) {
	m, _ := Read(strings.NewReader("To: a@x.test\nBcc: secret@x.test\nResent-Bcc: s2@x.test\n\nCafé\n"), Options{})
	m.StripBcc()
	var b bytes.Buffer
	m.WriteTo(&b)
	if strings.Contains(b.String(), "secret@") || strings.Contains(b.String(), "s2@") {
		t.Errorf("Bcc left: %q", b.String())
	}
	if !m.EightBit() {
		t.Error("8-bit body not detected")
	}
	m2, _ := Read(strings.NewReader("To: a@x.test\n\nplain\n"), Options{})
	m2.WriteTo(io.Discard)
	if m2.EightBit() || m2.NeedsSMTPUTF8() {
		t.Error("ASCII message flagged")
	}
	m3, _ := Read(strings.NewReader("To: jürgen@bücher.test\n\nx\n"), Options{})
	if !m3.NeedsSMTPUTF8() {
		t.Error("UTF-8 address not flagged for SMTPUTF8")
	}
}

// The body is streamed: reading a message keeps only the header and one
// buffer in memory, whatever the body's size.
func TestBodyIsStreamed(t *testing.T) {
	body := &countingReader{r: io.LimitReader(infiniteLines{}, 8<<20)}
	m, err := Read(io.MultiReader(strings.NewReader("Subject: big\n\n"), body), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if body.n > 128<<10 {
		t.Errorf("Read consumed %d body bytes before WriteTo: not streaming", body.n)
	}
	n, err := m.WriteTo(io.Discard)
	if err != nil || n < 8<<20 {
		t.Errorf("wrote %d, %v", n, err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type infiniteLines struct{}

func (infiniteLines) Read(p []byte) (int, error) {
	for i := range p {
		if i%72 == 71 {
			p[i] = '\n'
		} else {
			p[i] = 'a'
		}
	}
	return len(p), nil
}

func FuzzRead(f *testing.F) {
	f.Add("To: a@x.test\nBcc: b@x.test\n\nbody\n.\n", false)
	f.Add("From x\r\nSubject: a\r\r\n.\r\n", true)
	f.Add("To: Group: a@b, \"q,\" <c@d>;\n\n", true)
	f.Fuzz(func(t *testing.T, in string, ignoreDots bool) {
		m, err := Read(strings.NewReader(in), Options{IgnoreDots: ignoreDots, MaxHeaderBytes: 4096})
		if err != nil {
			return
		}
		rcpts, err := m.Recipients()
		if err == nil {
			for _, r := range rcpts {
				if strings.ContainsAny(r, "\r\n\x00<> ") && !strings.Contains(r, `"`) {
					t.Fatalf("unsafe recipient %q", r)
				}
			}
		}
		m.StripBcc()
		var b bytes.Buffer
		if _, err := m.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\r") {
			t.Fatalf("line ending other than CRLF in %q", out)
		}
		if m.Header.Has("Bcc") {
			t.Fatal("Bcc survived StripBcc")
		}
	})
}

// A CR smuggled into a header value of an LF (or CRLF) message does not
// start a header of its own.
func TestBareCRInHeaderIsNotALineBreak(t *testing.T) {
	for _, in := range []string{
		"To: a@x.test\nSubject: hi\rBcc: evil@x.test\n\nbody\n",
		"To: a@x.test\r\nSubject: hi\rBcc: evil@x.test\r\n\r\nbody\r\n",
	} {
		m, err := Read(strings.NewReader(in), Options{})
		if err != nil {
			t.Fatal(err)
		}
		rcpts, _ := m.Recipients()
		if strings.Join(rcpts, ",") != "a@x.test" || m.Header.Has("Bcc") {
			t.Errorf("%q: recipients %v", in, rcpts)
		}
		if s := m.Header.Get("Subject"); s != "hi Bcc: evil@x.test" {
			t.Errorf("Subject %q", s)
		}
	}
	if _, err := Read(strings.NewReader("Subject: a\x00b\n\nx\n"), Options{}); err == nil {
		t.Error("NUL in the header accepted")
	}
}
