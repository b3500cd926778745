package sendmail

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"
)

// Logger writes one line per delivery attempt, Postfix style, to syslog
// (facility mail, tag oauth-sendmail), to stderr or to a file, as the log
// key says. Warnings also go to the invoking user's stderr, because the
// person who must act on them (an expiring secret, a held message) is often
// the one who just ran sendmail.
type Logger struct {
	mu     sync.Mutex
	sys    *syslog.Writer // nil unless logging to syslog
	w      io.Writer      // where lines go when not syslog; nil = nowhere
	closer io.Closer
	stderr io.Writer
	toErr  bool // w is stderr: do not repeat warnings there
}

// Attempt is one delivery attempt of one queued message to some recipients.
type Attempt struct {
	ID      string
	From    string
	To      []string
	Profile string
	Relay   string
	Delay   time.Duration
	Status  string // sent, deferred, held, bounced
	Reply   string // the server's reply or the reason
}

// OpenLogger opens the log named by spec: "syslog" (default), "stderr", or
// an absolute file path (appended to, created 0640). A log that cannot be
// opened is not a reason to refuse mail: the Logger then writes to stderr
// only what the user must see (warnings).
func OpenLogger(spec string, stderr io.Writer) *Logger {
	l := &Logger{stderr: stderr}
	switch {
	case spec == "" || spec == "syslog":
		if w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "oauth-sendmail"); err == nil {
			l.sys = w
			l.closer = w
		}
	case spec == "stderr":
		l.w, l.toErr = stderr, true
	default:
		f, err := os.OpenFile(spec, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			fmt.Fprintf(stderr, "sendmail: warning: cannot open log %s: %v\n", spec, err)
			break
		}
		l.w, l.closer = f, f
	}
	return l
}

// Warn logs a warning and shows it on stderr.
func (l *Logger) Warn(msg string) {
	msg = oneLine(msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.toErr {
		fmt.Fprintf(l.stderr, "sendmail: warning: %s\n", msg)
	}
	l.write(true, "warning: "+msg)
}

// Delivery logs one attempt.
func (l *Logger) Delivery(a Attempt) {
	to := make([]string, len(a.To))
	for i, r := range a.To {
		to[i] = "<" + r + ">"
	}
	line := fmt.Sprintf("id=%s from=<%s> to=%s profile=%s relay=%s delay=%.2f status=%s (%s)",
		a.ID, a.From, strings.Join(to, ","), a.Profile, a.Relay, a.Delay.Seconds(), a.Status, oneLine(a.Reply))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(a.Status != "sent", line)
}

func (l *Logger) write(warning bool, line string) {
	switch {
	case l.sys != nil && warning:
		l.sys.Warning(line)
	case l.sys != nil:
		l.sys.Info(line)
	case l.w != nil && l.toErr:
		fmt.Fprintf(l.w, "sendmail: %s\n", line)
	case l.w != nil:
		fmt.Fprintf(l.w, "%s oauth-sendmail[%d]: %s\n", time.Now().Format(time.RFC3339), os.Getpid(), line)
	}
}

// Close closes the log.
func (l *Logger) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closer != nil {
		l.closer.Close()
		l.closer = nil
	}
}

// oneLine keeps a log record on one line whatever a server or a user put in
// the text: a CR or LF could otherwise forge a second record.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
