package sendmail

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/config"
)

// Env is the process's outside world. Main takes it as a value so that tests
// can run an invocation in-process and so that privileged runs can decide, in
// one place, what of the environment they trust.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// Privileged is true when the binary runs with a group it was not started
	// with (setgid) and the caller is not root: then -C and the environment
	// cannot choose which files are used.
	Privileged bool
	// Trusted is false when Privileged and the caller is not a member of
	// the group the binary runs with: such a caller may send and list the
	// queue, but not see tokens or manage profiles.
	Trusted bool
	// User is the login name of the invoking user (the real uid), used as the
	// sender when neither -f nor From gives one.
	User string
}

// OSEnv is the Env of this process.
func OSEnv() Env {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	privileged := os.Getegid() != os.Getgid() && os.Getuid() != 0
	trusted := !privileged
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			trusted = trusted || g == os.Getegid()
		}
	}
	return Env{
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Getenv:     os.Getenv,
		Now:        time.Now,
		Privileged: privileged,
		Trusted:    trusted,
		User:       name,
	}
}

// Main runs one sendmail invocation and returns its exit status.
func Main(args []string, env Env) int {
	inv, err := ParseArgs(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: %v\n", err)
		return ExUsage
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(env.Stderr, "sendmail: warning: %s\n", w)
	}
	if inv.Verbose > 0 {
		for _, n := range inv.Notes {
			fmt.Fprintf(env.Stderr, "sendmail: %s\n", n)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, inv, env); err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: %v\n", err)
		return ExitCode(err)
	}
	return ExOK
}

func run(ctx context.Context, inv *Invocation, env Env) error {
	cfg, err := LoadConfig(inv.ConfigFile, env)
	if err != nil {
		return err
	}
	switch inv.Mode {
	case ModeList:
		return ListQueue(cfg, env.Stdout, env.Now())
	case ModeVerify:
		return verify(cfg, inv, env.Stdout)
	case ModeAliases:
		return checkAliases(cfg, env.Stdout)
	case ModeQueueRun:
		return runQueue(ctx, cfg, inv, env)
	case ModeSMTP:
		return serveSMTP(ctx, cfg, inv, env)
	}
	_, err = Submit(ctx, cfg, inv, env)
	return err
}

// LoadConfig finds and loads the configuration, refusing, when privileged,
// what an unprivileged caller could have pointed it at.
func LoadConfig(explicit string, env Env) (*config.Config, error) {
	if env.Privileged && explicit != "" {
		fmt.Fprintf(env.Stderr, "sendmail: warning: -C %s ignored: only root may choose the configuration of a setgid sendmail\n", explicit)
	}
	path := config.Locate(config.LocateInput{
		Explicit:   explicit,
		Privileged: env.Privileged,
		Getenv:     env.Getenv,
		Exists:     func(p string) bool { _, err := os.Stat(p); return err == nil },
	})
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return nil, exitf(ExConfig, "no configuration at %s: run `oauth-sendmail setup`, or give one with -C FILE", path)
	case os.IsPermission(err):
		return nil, exitf(ExConfig, "cannot read %s: permission denied (is this binary installed setgid oauth-sendmail?)", path)
	case err != nil:
		return nil, exitf(ExConfig, "cannot read configuration: %v", err)
	case fi.Mode().Perm()&0o002 != 0:
		return nil, exitf(ExConfig, "%s is writable by other users, so anyone could redirect mail: chmod o-w %s", path, path)
	}
	cfg, err := config.Load(path)
	if err != nil {
		if os.IsPermission(err) {
			return nil, exitf(ExConfig, "cannot read %s: permission denied (is this binary installed setgid oauth-sendmail?)", path)
		}
		return nil, withCode(ExConfig, err)
	}
	return cfg, nil
}
