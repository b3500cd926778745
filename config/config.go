package config

import (
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// SystemFile is the configuration of a system install.
const SystemFile = "/etc/oauth-sendmail/config.toml"

// DefaultMaxMessageSize is Exchange Online's default submission limit.
const DefaultMaxMessageSize = 35 << 20

// Config is a loaded, validated configuration with every default filled in.
type Config struct {
	File           string
	System         bool // loaded from under /etc: system defaults for cache and spool
	DefaultProfile string
	Hostname       string // EHLO name, Message-ID domain, a local domain
	CacheDir       string
	Log            string // "syslog" | "stderr" | absolute path
	AliasesFile    string
	Aliases        map[string][]string // keys lower-cased; [aliases] over aliases_file
	LocalDomains   []string            // lower-cased
	Queue          Queue
	Profiles       map[string]*Profile
}

// Queue is the [queue] table.
type Queue struct {
	Dir           string
	Retry         []time.Duration // then every last interval
	MaxAge        time.Duration
	NotifyTo      string
	RatePerMinute int // 0: no pacing
}

// Profile is one [profile.NAME] table: one mailbox and how to authenticate
// as it.
type Profile struct {
	Name                string
	Mailbox             string
	Senders             []string // lower-cased patterns; * is the only wildcard
	From                string   // "rewrite" | "keep"
	Tenant              string
	ClientID            string
	Auth                string // "client_secret" | "client_certificate" | "device_code"
	ClientSecret        string
	ClientSecretFile    string
	ClientSecretExpires time.Time // zero when unset
	CertificateFile     string
	KeyFile             string
	KeyPassphraseFile   string
	SendX5C             bool
	Cloud               string // "global" | "usgov" | "usgov-dod" | "china"
	SMTP                string // host:port
	Authority           string // ends in "/"
	Scopes              []string
	CAFile              string
	MaxMessageSize      int64
	RatePerMinute       int // 0: queue.rate_per_minute applies
}

// Error is a problem in a configuration file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// sys is what loading reads besides the file itself; tests replace it so
// that host name, /etc/mailname and the environment are under their control.
type sys struct {
	getenv   func(string) string
	hostname func() (string, error)
	readFile func(string) ([]byte, error)
}

func osSys() sys { return sys{getenv: os.Getenv, hostname: os.Hostname, readFile: os.ReadFile} }

// Load reads and validates the configuration at path. A file that cannot be
// read is reported with the *os.PathError (callers tell permission problems
// apart); every problem inside the file is an *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, string(data), osSys())
}

type rawConfig struct {
	DefaultProfile string                 `toml:"default_profile"`
	Hostname       string                 `toml:"hostname"`
	CacheDir       string                 `toml:"cache_dir"`
	Log            string                 `toml:"log"`
	AliasesFile    string                 `toml:"aliases_file"`
	LocalDomains   []string               `toml:"local_domains"`
	Aliases        map[string]any         `toml:"aliases"`
	Queue          rawQueue               `toml:"queue"`
	Profile        map[string]*rawProfile `toml:"profile"`
}

type rawQueue struct {
	Dir           string     `toml:"dir"`
	Retry         []duration `toml:"retry"`
	MaxAge        *duration  `toml:"max_age"`
	NotifyTo      string     `toml:"notify_to"`
	RatePerMinute *int       `toml:"rate_per_minute"`
}

type rawProfile struct {
	Mailbox             string   `toml:"mailbox"`
	Senders             []string `toml:"senders"`
	From                string   `toml:"from"`
	Tenant              string   `toml:"tenant"`
	ClientID            string   `toml:"client_id"`
	Auth                string   `toml:"auth"`
	ClientSecret        string   `toml:"client_secret"`
	ClientSecretFile    string   `toml:"client_secret_file"`
	ClientSecretExpires any      `toml:"client_secret_expires"`
	CertificateFile     string   `toml:"certificate_file"`
	KeyFile             string   `toml:"key_file"`
	KeyPassphraseFile   string   `toml:"key_passphrase_file"`
	SendX5C             bool     `toml:"send_x5c"`
	Cloud               string   `toml:"cloud"`
	Transport           string   `toml:"transport"`
	SMTP                string   `toml:"smtp"`
	Authority           string   `toml:"authority"`
	Scopes              []string `toml:"scopes"`
	CAFile              string   `toml:"ca_file"`
	MaxMessageSize      any      `toml:"max_message_size"`
	RatePerMinute       int      `toml:"rate_per_minute"`
}

// duration is a Go duration that also takes days ("5d").
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = duration(v)
	return err
}

// ParseDuration reads a Go duration ("90s", "36h", "1h30m") or a number of
// days ("5d", "1.5d"). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("invalid duration %q (examples: 90s, 30m, 36h, 5d)", s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || math.IsInf(n, 0) || n*24 > float64(math.MaxInt64/int64(time.Hour)) {
			return 0, bad
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

func parse(path, data string, env sys) (*Config, error) {
	var raw rawConfig
	md, err := toml.Decode(data, &raw)
	if err != nil {
		return nil, decodeError(path, data, err)
	}
	// Key lines are found only when an error needs one: every sendmail
	// run loads the file, few of them fail.
	var lines keyLines
	lineOf := func(key []string) int {
		if lines == nil {
			lines = newKeyLines(data)
		}
		return lines.of(key)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, &Error{File: path, Line: lineOf(und[0]), Msg: unknownKey(und[0])}
	}
	for _, k := range md.Keys() {
		if bad := nonCanonical(k); bad != "" {
			return nil, &Error{File: path, Line: lineOf(k), Msg: fmt.Sprintf("key %q must be spelt %q (keys are lower case)", k.String(), strings.ToLower(bad))}
		}
	}
	fail := func(key, format string, args ...any) error {
		return &Error{File: path, Line: lineOf(strings.Split(key, ".")), Msg: fmt.Sprintf(format, args...)}
	}

	c := &Config{
		File:           path,
		System:         strings.HasPrefix(filepath.Clean(path), "/etc/"),
		DefaultProfile: raw.DefaultProfile,
		Hostname:       strings.ToLower(strings.TrimSpace(raw.Hostname)),
		CacheDir:       raw.CacheDir,
		Log:            raw.Log,
		AliasesFile:    raw.AliasesFile,
		Aliases:        map[string][]string{},
		Profiles:       map[string]*Profile{},
	}
	osHost, _ := env.hostname()
	osHost = strings.ToLower(strings.TrimSpace(osHost))
	if c.Hostname == "" {
		c.Hostname = osHost
		if c.Hostname == "" {
			c.Hostname = "localhost"
		}
	} else if !validDomain(c.Hostname) {
		return nil, fail("hostname", "hostname = %q is not a host name: use the host's fully qualified name (web01.contoso.com)", raw.Hostname)
	}
	switch {
	case c.Log == "":
		c.Log = "syslog"
	case c.Log == "syslog" || c.Log == "stderr" || filepath.IsAbs(c.Log):
	default:
		return nil, fail("log", "log = %q: use \"syslog\", \"stderr\" or an absolute file path", c.Log)
	}
	xdg := func(name, fallback string) string {
		if v := env.getenv(name); filepath.IsAbs(v) {
			return v
		}
		return filepath.Join(env.getenv("HOME"), fallback)
	}
	if c.CacheDir == "" {
		if c.System {
			c.CacheDir = "/var/cache/oauth-sendmail"
		} else {
			c.CacheDir = filepath.Join(xdg("XDG_CACHE_HOME", ".cache"), "oauth-sendmail")
		}
	}
	if err := c.buildQueue(raw.Queue, xdg, fail); err != nil {
		return nil, err
	}

	if c.AliasesFile != "" {
		b, err := env.readFile(c.AliasesFile)
		if err != nil {
			return nil, fail("aliases_file", "aliases_file: %v: fix the path or remove the key", err)
		}
		parseAliasesFile(string(b), c.Aliases)
	}
	for name, v := range raw.Aliases {
		targets, err := aliasTargets(v)
		if err != nil {
			return nil, fail("aliases."+name, "aliases: %q %v", name, err)
		}
		c.Aliases[strings.ToLower(strings.TrimSpace(name))] = targets
	}
	for _, d := range raw.LocalDomains {
		if !validDomain(strings.ToLower(d)) {
			return nil, fail("local_domains", "local_domains: %q is not a domain (give names like \"web01.internal\")", d)
		}
	}
	var mailname string
	if b, err := env.readFile("/etc/mailname"); err == nil {
		mailname = string(b)
	}
	c.LocalDomains = localDomains(c.Hostname, osHost, mailname, raw.LocalDomains)

	names := make([]string, 0, len(raw.Profile))
	for name := range raw.Profile {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pfail := func(key, format string, args ...any) error {
			return fail("profile."+name+"."+key, "profile %q: "+format, append([]any{name}, args...)...)
		}
		p, err := buildProfile(name, raw.Profile[name], pfail)
		if err != nil {
			return nil, err
		}
		c.Profiles[name] = p
	}
	if len(c.Profiles) == 0 {
		return nil, &Error{File: path, Msg: "no [profile.NAME] table: add one for the mailbox that sends (oauth-sendmail setup writes it)"}
	}
	if c.DefaultProfile != "" {
		if _, ok := c.Profiles[c.DefaultProfile]; !ok {
			return nil, fail("default_profile", "default_profile = %q names no [profile.%s] table: use one of %s", c.DefaultProfile, c.DefaultProfile, c.profileNames())
		}
	}
	return c, nil
}

type failFunc func(key, format string, args ...any) error

func (c *Config) buildQueue(r rawQueue, xdg func(string, string) string, fail failFunc) error {
	c.Queue = Queue{
		Dir:           r.Dir,
		Retry:         []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour},
		MaxAge:        5 * 24 * time.Hour,
		NotifyTo:      strings.TrimSpace(r.NotifyTo),
		RatePerMinute: 30, // Exchange Online's per-mailbox limit
	}
	if c.Queue.Dir == "" {
		if c.System {
			c.Queue.Dir = "/var/spool/oauth-sendmail"
		} else {
			c.Queue.Dir = filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "oauth-sendmail", "queue")
		}
	} else if !filepath.IsAbs(c.Queue.Dir) {
		return fail("queue.dir", "queue.dir = %q: give an absolute path", c.Queue.Dir)
	}
	if r.Retry != nil {
		if len(r.Retry) == 0 {
			return fail("queue.retry", "queue.retry is empty: list at least one interval, e.g. [\"1m\", \"5m\", \"30m\", \"2h\"]")
		}
		c.Queue.Retry = nil
		for _, d := range r.Retry {
			if d <= 0 {
				return fail("queue.retry", "queue.retry: intervals must be longer than 0s")
			}
			c.Queue.Retry = append(c.Queue.Retry, time.Duration(d))
		}
	}
	if r.MaxAge != nil {
		if *r.MaxAge <= 0 {
			return fail("queue.max_age", "queue.max_age must be longer than 0s (e.g. \"5d\")")
		}
		c.Queue.MaxAge = time.Duration(*r.MaxAge)
	}
	if r.RatePerMinute != nil {
		if *r.RatePerMinute < 0 {
			return fail("queue.rate_per_minute", "queue.rate_per_minute must be 0 (no pacing) or more")
		}
		c.Queue.RatePerMinute = *r.RatePerMinute
	}
	if c.Queue.NotifyTo != "" && !isAddress(c.Queue.NotifyTo) {
		return fail("queue.notify_to", "queue.notify_to = %q: give a full address (name@domain)", c.Queue.NotifyTo)
	}
	return nil
}

func aliasTargets(v any) ([]string, error) {
	var targets []string
	switch v := v.(type) {
	case string:
		targets = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("must list addresses as strings, e.g. [\"a@contoso.com\", \"b@contoso.com\"]")
			}
			targets = append(targets, s)
		}
	default:
		return nil, fmt.Errorf("must be an address or a list of addresses")
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("is an empty list: give at least one address")
	}
	for i, t := range targets {
		targets[i] = strings.TrimSpace(t)
		if targets[i] == "" || strings.ContainsAny(targets[i], " \t,") {
			return nil, fmt.Errorf("has the address %q: give one address per string", t)
		}
	}
	return targets, nil
}

func buildProfile(name string, r *rawProfile, fail failFunc) (*Profile, error) {
	p := &Profile{
		Name: name, Mailbox: strings.TrimSpace(r.Mailbox), From: r.From,
		Tenant: strings.TrimSpace(r.Tenant), ClientID: strings.TrimSpace(r.ClientID), Auth: r.Auth,
		ClientSecret: r.ClientSecret, ClientSecretFile: r.ClientSecretFile,
		CertificateFile: r.CertificateFile, KeyFile: r.KeyFile, KeyPassphraseFile: r.KeyPassphraseFile,
		SendX5C: r.SendX5C, Cloud: r.Cloud, SMTP: strings.TrimSpace(r.SMTP), Authority: strings.TrimSpace(r.Authority),
		Scopes: r.Scopes, CAFile: r.CAFile, RatePerMinute: r.RatePerMinute, MaxMessageSize: DefaultMaxMessageSize,
	}
	switch {
	case p.Mailbox == "":
		return nil, fail("", "mailbox is required (the Exchange Online mailbox that sends, e.g. alerts@contoso.com)")
	case !isAddress(p.Mailbox):
		return nil, fail("mailbox", "mailbox = %q is not an address (name@domain)", p.Mailbox)
	case p.Tenant == "":
		return nil, fail("", "tenant is required (contoso.onmicrosoft.com or the tenant ID)")
	case p.ClientID == "":
		return nil, fail("", "client_id is required (the application (client) ID of the app registration)")
	}
	for _, s := range r.Senders {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" || strings.ContainsAny(s, " \t,<>") || strings.Count(s, "@") > 1 {
			return nil, fail("senders", "senders: %q is not a pattern (examples: \"root\", \"*@web01.contoso.com\")", s)
		}
		p.Senders = append(p.Senders, s)
	}
	if p.From == "" {
		p.From = "rewrite"
	}
	if p.From != "rewrite" && p.From != "keep" {
		return nil, fail("from", "from = %q: use \"rewrite\" or \"keep\"", p.From)
	}
	if r.Transport != "" && r.Transport != "smtp" {
		return nil, fail("transport", "transport = %q: only \"smtp\" is supported", r.Transport)
	}
	if p.Auth == "" {
		p.Auth = "client_secret"
		if p.CertificateFile != "" {
			p.Auth = "client_certificate"
		}
	}
	switch p.Auth {
	case "client_secret":
		if p.ClientSecret != "" && p.ClientSecretFile != "" {
			return nil, fail("client_secret", "both client_secret and client_secret_file are set: keep only client_secret_file")
		}
		if p.ClientSecret == "" && p.ClientSecretFile == "" {
			return nil, fail("", "client_secret_file is required with auth = \"client_secret\" (a file holding the secret's Value)")
		}
	case "client_certificate":
		if p.CertificateFile == "" {
			return nil, fail("", "certificate_file is required with auth = \"client_certificate\"")
		}
	case "device_code":
	default:
		return nil, fail("auth", "auth = %q: use \"client_secret\", \"client_certificate\" or \"device_code\"", p.Auth)
	}
	exp, err := parseDate(r.ClientSecretExpires)
	if err != nil {
		return nil, fail("client_secret_expires", "client_secret_expires: %v", err)
	}
	p.ClientSecretExpires = exp
	if p.Cloud == "" {
		p.Cloud = "global"
	}
	cl, ok := clouds[p.Cloud]
	if !ok {
		return nil, fail("cloud", "cloud = %q: use \"global\", \"usgov\", \"usgov-dod\" or \"china\"", p.Cloud)
	}
	if p.SMTP == "" {
		p.SMTP = cl.smtp
	}
	smtp, err := hostPort(p.SMTP)
	if err != nil {
		return nil, fail("smtp", "smtp = %q: %v", p.SMTP, err)
	}
	p.SMTP = smtp
	if p.Authority == "" {
		p.Authority = cl.authority
	}
	if !strings.HasPrefix(p.Authority, "https://") || len(p.Authority) == len("https://") {
		return nil, fail("authority", "authority = %q must be an https:// URL (e.g. %q)", p.Authority, cl.authority)
	}
	if !strings.HasSuffix(p.Authority, "/") {
		p.Authority += "/"
	}
	if r.Scopes != nil {
		if len(r.Scopes) == 0 {
			return nil, fail("scopes", "scopes is empty: remove the key to use the cloud's default")
		}
		for _, s := range r.Scopes {
			if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t") {
				return nil, fail("scopes", "scopes: %q is not a scope (one scope per string)", s)
			}
		}
	} else if p.Auth == "device_code" {
		p.Scopes = []string{cl.delegatedScope}
	} else {
		p.Scopes = []string{cl.appScope}
	}
	if r.MaxMessageSize != nil {
		n, err := parseSize(r.MaxMessageSize)
		if err != nil {
			return nil, fail("max_message_size", "max_message_size: %v", err)
		}
		p.MaxMessageSize = n
	}
	if p.RatePerMinute < 0 {
		return nil, fail("rate_per_minute", "rate_per_minute must be 0 (use queue.rate_per_minute) or more")
	}
	return p, nil
}

// hostPort checks an SMTP endpoint and adds the submission port when none
// is given.
func hostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "587"
	}
	n, err := strconv.Atoi(port)
	if host == "" || strings.ContainsAny(host, " \t/@") || err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("give host:port, e.g. \"smtp.office365.com:587\"")
	}
	return net.JoinHostPort(host, port), nil
}

// parseDate accepts a TOML date (2027-06-30) or the same as a string.
func parseDate(v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return time.Date(v.Year(), v.Month(), v.Day(), 0, 0, 0, 0, time.Local), nil
	case string:
		t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v), time.Local)
		if err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("give the date the secret expires as 2027-06-30")
}

// parseSize reads "35MB", "500KB", "1GB" (binary units) or a plain number
// of bytes.
func parseSize(v any) (int64, error) {
	bad := fmt.Errorf("%v is not a size (examples: \"35MB\", \"500KB\", 1048576)", v)
	switch v := v.(type) {
	case int64:
		if v <= 0 {
			return 0, bad
		}
		return v, nil
	case string:
		s := strings.ToUpper(strings.TrimSpace(v))
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
			if rest, ok := strings.CutSuffix(s, u.suffix); ok {
				s, mult = strings.TrimSpace(rest), u.mult
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%q is not a size (examples: \"35MB\", \"500KB\", 1048576)", v)
		}
		return n * mult, nil
	}
	return 0, bad
}

func isAddress(s string) bool {
	at := strings.LastIndex(s, "@")
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t<>,") && validDomain(strings.ToLower(s[at+1:]))
}

func validDomain(d string) bool {
	if d == "" || strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r > 0x7f) {
			return false
		}
	}
	return true
}

func (c *Config) profileNames() string {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
