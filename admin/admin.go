// Package admin holds the operator commands of `oauth-sendmail <command>`:
// token, login, logout, queue, config check and version. Each command is a
// small function over the same leaves the sendmail path uses, so what an
// operator checks is what a delivery does.
package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/oauth"
	"github.com/oauth-sendmail/oauth-sendmail/sendmail"
)

// Version is set at link time (-ldflags "-X .../admin.Version=1.2.3").
var Version = "dev"

type command struct {
	run  func(ctx context.Context, args []string, env sendmail.Env) error
	help string
}

func commands() map[string]command {
	return map[string]command{
		"token":   {cmdToken, "token --profile P [--format raw|xoauth2|json]   print a valid access token (msmtp passwordeval, mutt, git)"},
		"login":   {cmdLogin, "login --profile P                                device-code sign-in for a delegated profile"},
		"logout":  {cmdLogout, "logout --profile P                               forget the cached tokens of a profile"},
		"queue":   {cmdQueue, "queue list|run|flush|show ID|retry ID|--failed|drop ID   manage the queue"},
		"setup":   {cmdSetup, "setup [--tenant T --client-id ID --mailbox M --secret-file F|--secret-stdin|--certificate F|--device-code --profile P --yes]   write a profile"},
		"doctor":  {cmdDoctor, "doctor [--profile P] [--send-test ADDR] [--json]    check every layer and name the fix"},
		"test":    {cmdTest, "test --to ADDR [--profile P]                     send a test message"},
		"config":  {cmdConfig, "config check                                     strict parse and permission checks"},
		"version": {cmdVersion, "version                                          version, commit and Go version"},
		"help":    {nil, "help                                             this list"},
	}
}

// IsCommand reports whether arg names an oauth-sendmail command (rather than
// being a sendmail option or recipient).
func IsCommand(arg string) bool {
	_, ok := commands()[arg]
	return ok || arg == "-h" || arg == "--help" || arg == "--version"
}

// Main runs `oauth-sendmail args...` and returns the exit status.
func Main(args []string, env sendmail.Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return sendmail.ExUsage
		}
		return sendmail.ExOK
	}
	if args[0] == "--version" {
		args[0] = "version"
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "oauth-sendmail: unknown command %q: see `oauth-sendmail help`\n", args[0])
		return sendmail.ExUsage
	}
	if !env.Trusted && !untrustedMayRun(args) {
		// The binary runs setgid: a caller outside the group could read
		// tokens, other users' mail or change profiles through it.
		fmt.Fprintf(env.Stderr, "oauth-sendmail %s: permission denied: only root and members of the oauth-sendmail group may run this command (any user may send mail and run mailq)\n", args[0])
		return sendmail.ExNoPerm
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, args[1:], env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return sendmail.ExOK
		}
		fmt.Fprintf(env.Stderr, "oauth-sendmail %s: %v\n", args[0], err)
		return sendmail.ExitCode(err)
	}
	return sendmail.ExOK
}

// untrustedMayRun lists what any local user may do through a setgid
// binary: nothing that shows a token, someone else's message or a profile.
func untrustedMayRun(args []string) bool {
	switch args[0] {
	case "version", "help":
		return true
	case "queue":
		return len(args) > 1 && args[1] == "list"
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: oauth-sendmail <command> [options]   (as sendmail, mailq or newaliases: the sendmail(8) interface)")
	fmt.Fprintln(w, "commands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", cmds[n].help)
	}
	fmt.Fprintln(w, "every command takes -C FILE to use another configuration file")
}

// flags is a FlagSet with the options every command shares.
type flags struct {
	*flag.FlagSet
	configFile string
	profile    string
}

func newFlags(name string, env sendmail.Env) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("oauth-sendmail "+name, flag.ContinueOnError)}
	f.SetOutput(env.Stderr)
	f.StringVar(&f.configFile, "C", "", "configuration file")
	f.StringVar(&f.configFile, "config", "", "configuration file")
	f.StringVar(&f.profile, "profile", "", "profile name (default: default_profile)")
	return f
}

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &sendmail.ExitError{Code: sendmail.ExUsage, Err: err}
	}
	return nil
}

func (f *flags) load(env sendmail.Env) (*config.Config, error) {
	return sendmail.LoadConfig(f.configFile, env)
}

func (f *flags) chooseProfile(cfg *config.Config) (*config.Profile, error) {
	var p *config.Profile
	var err error
	if f.profile != "" {
		p, err = cfg.Profile(f.profile)
	} else {
		p, err = cfg.ChooseProfile()
	}
	if err != nil {
		return nil, &sendmail.ExitError{Code: sendmail.ExConfig, Err: err}
	}
	return p, nil
}

// loadProfile loads the configuration and picks the profile the flags name.
func (f *flags) loadProfile(env sendmail.Env) (*config.Config, *config.Profile, error) {
	cfg, err := f.load(env)
	if err != nil {
		return nil, nil, err
	}
	p, err := f.chooseProfile(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, p, nil
}

// tokenSource is the profile's token source, with warnings on stderr.
func tokenSource(cfg *config.Config, p *config.Profile, env sendmail.Env) (*oauth.Source, error) {
	src, err := sendmail.TokenSource(cfg, p, func(msg string) { fmt.Fprintf(env.Stderr, "oauth-sendmail: warning: %s\n", msg) })
	if err != nil {
		return nil, exit(sendmail.ExConfig, "%v", err)
	}
	return src, nil
}

func exit(code int, format string, args ...any) error {
	return &sendmail.ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// cmdToken prints a token for other programs: msmtp's passwordeval, mutt's
// oauthbearer, git send-email's credential helpers.
func cmdToken(ctx context.Context, args []string, env sendmail.Env) error {
	f := newFlags("token", env)
	format := f.String("format", "raw", "raw | xoauth2 (base64 SASL string) | json")
	if err := f.parse(args); err != nil {
		return err
	}
	switch *format {
	case "raw", "xoauth2", "json":
	default:
		return exit(sendmail.ExUsage, "--format %q: use raw, xoauth2 or json", *format)
	}
	cfg, p, err := f.loadProfile(env)
	if err != nil {
		return err
	}
	src, err := tokenSource(cfg, p, env)
	if err != nil {
		return err
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return sendmail.TokenExitError(err)
	}
	switch *format {
	case "raw":
		fmt.Fprintln(env.Stdout, tok.AccessToken)
	case "xoauth2":
		fmt.Fprintln(env.Stdout, base64.StdEncoding.EncodeToString([]byte("user="+p.Mailbox+"\x01auth=Bearer "+tok.AccessToken+"\x01\x01")))
	case "json":
		return json.NewEncoder(env.Stdout).Encode(map[string]any{
			"access_token": tok.AccessToken,
			"expires_on":   tok.ExpiresOn.UTC().Format(time.RFC3339),
			"mailbox":      p.Mailbox,
			"profile":      p.Name,
			"scopes":       p.Scopes,
		})
	}
	return nil
}

func cmdLogin(ctx context.Context, args []string, env sendmail.Env) error {
	f := newFlags("login", env)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, p, err := f.loadProfile(env)
	if err != nil {
		return err
	}
	if p.Auth != "device_code" {
		return exit(sendmail.ExUsage, "profile %q uses auth = %q, which needs no sign-in; login is for auth = \"device_code\" profiles", p.Name, p.Auth)
	}
	src, err := tokenSource(cfg, p, env)
	if err != nil {
		return err
	}
	if _, err := src.Login(ctx, func(msg string) { fmt.Fprintln(env.Stdout, msg) }); err != nil {
		return sendmail.TokenExitError(err)
	}
	fmt.Fprintf(env.Stdout, "signed in: profile %q can now send as %s\n", p.Name, p.Mailbox)
	return nil
}

func cmdLogout(ctx context.Context, args []string, env sendmail.Env) error {
	f := newFlags("logout", env)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, p, err := f.loadProfile(env)
	if err != nil {
		return err
	}
	src, err := tokenSource(cfg, p, env)
	if err != nil {
		return err
	}
	if err := src.Logout(); err != nil {
		return exit(sendmail.ExIOErr, "%v", err)
	}
	fmt.Fprintf(env.Stdout, "signed out: cached tokens of profile %q removed\n", p.Name)
	return nil
}

func cmdConfig(ctx context.Context, args []string, env sendmail.Env) error {
	if len(args) == 0 || args[0] != "check" {
		return exit(sendmail.ExUsage, "usage: oauth-sendmail config check [-C FILE]")
	}
	f := newFlags("config check", env)
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	cfg, err := f.load(env)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cfg.Profiles))
	for n, p := range cfg.Profiles {
		if p.Auth == "client_secret" {
			if _, err := p.Secret(); err != nil {
				return exit(sendmail.ExConfig, "%v", err)
			}
		}
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(env.Stdout, "%s: ok (profiles: %s; default: %s)\n", cfg.File, strings.Join(names, ", "), firstNonEmpty(cfg.DefaultProfile, "none"))
	return nil
}

func cmdVersion(ctx context.Context, args []string, env sendmail.Env) error {
	commit := "unknown"
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = s.Value[:12]
			}
		}
	}
	fmt.Fprintf(env.Stdout, "oauth-sendmail %s (commit %s, %s)\n", Version, commit, goVersion)
	return nil
}

func cmdQueue(ctx context.Context, args []string, env sendmail.Env) error {
	if len(args) == 0 {
		return exit(sendmail.ExUsage, "usage: oauth-sendmail queue list|run|flush|show ID|retry ID|retry --failed|drop ID")
	}
	sub := args[0]
	f := newFlags("queue "+sub, env)
	failed := f.Bool("failed", false, "retry: every failed message")
	verbose := f.Bool("v", false, "verbose")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	cfg, err := f.load(env)
	if err != nil {
		return err
	}
	v := 0
	if *verbose {
		v = 1
	}
	switch sub {
	case "list":
		return sendmail.ListQueue(cfg, env.Stdout, env.Now())
	case "run", "flush":
		o := sendmail.QueueRunOptions{Verbose: v, All: sub == "flush"}
		var bar *progressbar.ProgressBar
		if v == 0 && isTTY(env.Stderr) {
			o.Progress = func(done, total int) {
				if bar == nil {
					bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(env.Stderr),
						progressbar.OptionSetDescription("queue "+sub), progressbar.OptionShowCount(),
						progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
						progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
				}
				bar.Set(done)
			}
		}
		st, err := sendmail.QueueRun(ctx, cfg, env, o)
		if bar != nil {
			bar.Finish()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "queue run: %d sent, %d deferred, %d held, %d failed, %d busy\n", st.Sent, st.Deferred, st.Held, st.Bounced, st.Busy)
		return nil
	}
	q, err := sendmail.OpenQueue(cfg)
	if err != nil {
		return err
	}
	id := f.Arg(0)
	switch sub {
	case "show":
		if id == "" {
			return exit(sendmail.ExUsage, "usage: oauth-sendmail queue show ID")
		}
		e, header, err := q.Show(id)
		if err != nil {
			return exit(sendmail.ExUsage, "%v", err)
		}
		b, _ := json.MarshalIndent(e, "", "  ")
		fmt.Fprintf(env.Stdout, "%s\n\n%s", b, header)
		return nil
	case "retry":
		var ids []string
		if *failed {
			failedItems, err := q.ListFailed()
			if err != nil {
				return exit(sendmail.ExIOErr, "%v", err)
			}
			for _, e := range failedItems {
				ids = append(ids, e.ID)
			}
		} else if id != "" {
			ids = []string{id}
		} else {
			return exit(sendmail.ExUsage, "usage: oauth-sendmail queue retry ID | --failed")
		}
		want := map[string]bool{}
		for _, i := range ids {
			if err := q.Retry(i); err != nil {
				return exit(sendmail.ExUsage, "%s: %v", i, err)
			}
			want[i] = true
		}
		fmt.Fprintf(env.Stdout, "%d message(s) queued again; trying now\n", len(ids))
		if len(ids) == 0 {
			return nil
		}
		st, err := sendmail.QueueRun(ctx, cfg, env, sendmail.QueueRunOptions{Verbose: v, All: true, IDs: want})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "queue run: %d sent, %d deferred, %d held, %d failed, %d busy\n", st.Sent, st.Deferred, st.Held, st.Bounced, st.Busy)
		return nil
	case "drop":
		if id == "" {
			return exit(sendmail.ExUsage, "usage: oauth-sendmail queue drop ID")
		}
		if err := q.Drop(id); err != nil {
			return exit(sendmail.ExUsage, "%v", err)
		}
		fmt.Fprintf(env.Stdout, "%s dropped\n", id)
		return nil
	}
	return exit(sendmail.ExUsage, "unknown queue command %q: use list, run, flush, show, retry or drop", sub)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
