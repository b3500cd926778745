// Package harness runs the real oauth-sendmail binary against the fake
// Entra ID and fake Exchange Online of internal/fakeexo, in a throw-away
// directory: the demo and the end-to-end tests share it, so what the demo
// shows is what the tests check.
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
)

// Build compiles the binary from the module that holds this package into
// dir and returns its path.
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "oauth-sendmail")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return bin, nil
}

// Defaults of the world's one profile.
const (
	ProxyHost = "login.proxied.test"
	Tenant    = "contoso.test"
	ClientID  = "3f1c2a9e-5b7d-4e10-9a2b-6c8d0e1f2a3b"
	Mailbox   = "alerts@contoso.test"
	Hostname  = "web01.contoso.test"
)

// World is a fake Microsoft plus a configuration pointing at it.
type World struct {
	Dir        string
	Bin        string // directory holding sendmail, mailq, newaliases, oauth-sendmail
	ConfigFile string
	Secret     string
	CA         *fakeexo.CA
	Entra      *fakeexo.Entra
	Exchange   *fakeexo.Exchange
	// Extra TOML appended to the configuration by WriteConfig.
	Extra string
}

// NewWorld starts the fakes, registers one app with a client secret and
// writes a configuration for it. binary is the path Build returned.
func NewWorld(binary, dir string) (*World, error) {
	w := &World{Dir: dir, Bin: filepath.Join(dir, "bin"), Secret: "s3cr3t~Q8v.Zx-demo-" + fmt.Sprint(time.Now().UnixNano()%100000)}
	if err := os.MkdirAll(w.Bin, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{"oauth-sendmail", "sendmail", "mailq", "newaliases"} {
		if err := os.Symlink(binary, filepath.Join(w.Bin, name)); err != nil {
			return nil, err
		}
	}
	// ProxyHost is a name for the fake Entra that is not loopback, so that
	// HTTPS_PROXY applies to it (Go never proxies localhost).
	ca, err := fakeexo.NewCAFor(24*time.Hour, "localhost", "127.0.0.1", "::1", ProxyHost)
	if err != nil {
		return nil, err
	}
	w.CA = ca
	if err := ca.WriteCertFile(filepath.Join(dir, "ca.pem")); err != nil {
		return nil, err
	}
	w.Entra, err = fakeexo.NewEntra(ca)
	if err != nil {
		return nil, err
	}
	w.Entra.AddSecretApp(Tenant, ClientID, w.Secret)
	w.Exchange, err = fakeexo.NewExchange(ca, func(user, token string) error {
		claims, err := w.Entra.CheckToken(token)
		if err != nil {
			return err
		}
		// Like Exchange: a delegated token is good for its own user's
		// mailbox, an app-only one needs SMTP.SendAsApp.
		if claims.UPN != "" {
			if !strings.EqualFold(claims.UPN, user) || !strings.Contains(" "+claims.Scp+" ", " SMTP.Send ") {
				return errors.New("delegated token of another user or without SMTP.Send")
			}
			return nil
		}
		for _, r := range claims.Roles {
			if r == "SMTP.SendAsApp" {
				return nil
			}
		}
		return errors.New("app token without SMTP.SendAsApp")
	})
	if err != nil {
		w.Entra.Close()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(w.Secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	w.ConfigFile = filepath.Join(dir, "config.toml")
	return w, w.WriteConfig()
}

// WriteConfig (re)writes the configuration, with w.Extra appended.
func (w *World) WriteConfig() error {
	cfg := fmt.Sprintf(`# written by internal/harness: a profile pointing at the fakes
default_profile = "alerts"
hostname = %q
log = %q
cache_dir = %q

[queue]
dir = %q
rate_per_minute = 0  # no pacing: the fake does not throttle unless told to

[aliases]
root = "admin@contoso.test"
www-data = "webmaster@contoso.test"

[profile.alerts]
mailbox = %q
tenant = %q
client_id = %q
client_secret_file = %q
authority = %q
smtp = %q
ca_file = %q
`, Hostname, w.LogFile(), filepath.Join(w.Dir, "cache"), w.SpoolDir(),
		Mailbox, Tenant, ClientID, filepath.Join(w.Dir, "secret"),
		w.Entra.URL, w.Exchange.Addr, filepath.Join(w.Dir, "ca.pem"))
	return os.WriteFile(w.ConfigFile, []byte(cfg+w.Extra), 0o600)
}

// LogFile is where the binary logs (log = path).
func (w *World) LogFile() string { return filepath.Join(w.Dir, "mail.log") }

// SpoolDir is the queue directory.
func (w *World) SpoolDir() string { return filepath.Join(w.Dir, "spool") }

// Close stops the fakes.
func (w *World) Close() {
	w.Exchange.Close()
	w.Entra.Close()
}

// Result is what one run of the binary did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// Env is the environment of a run: a private HOME and XDG directories, and
// the configuration through OAUTH_SENDMAIL_CONFIG.
func (w *World) Env(extra ...string) []string {
	env := []string{
		"PATH=" + w.Bin + ":" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(w.Dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(w.Dir, "home", ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(w.Dir, "home", ".cache"),
		"XDG_STATE_HOME=" + filepath.Join(w.Dir, "home", ".local", "state"),
		"OAUTH_SENDMAIL_CONFIG=" + w.ConfigFile,
		"LANG=C.UTF-8",
	}
	return append(env, extra...)
}

// Run runs the binary under the name prog (sendmail, mailq, ...) with stdin.
func (w *World) Run(stdin, prog string, args ...string) Result {
	return w.RunEnv(nil, stdin, prog, args...)
}

// RunEnv is Run with extra environment variables.
func (w *World) RunEnv(extraEnv []string, stdin, prog string, args ...string) Result {
	return w.run(exec.Command(filepath.Join(w.Bin, prog), args...), extraEnv, stdin)
}

// RunAs runs the binary as another user (the caller must be root), the way
// www-data or a cron user would.
func (w *World) RunAs(uid, gid uint32, stdin, prog string, args ...string) Result {
	cmd := exec.Command(filepath.Join(w.Bin, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return w.run(cmd, nil, stdin)
}

func (w *World) run(cmd *exec.Cmd, extraEnv []string, stdin string) Result {
	cmd.Env = w.Env(extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			code = -1
			errb.WriteString(err.Error())
		}
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// Log returns the log file's content.
func (w *World) Log() string {
	b, _ := os.ReadFile(w.LogFile())
	return string(b)
}
