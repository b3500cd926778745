package config

import (
	"bufio"
	"errors"
	"fmt"
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

// Config is a loaded, validated configuration with every default filled in.
type Config struct {
	File           string
	System         bool // loaded from under /etc: system defaults for cache and spool
	DefaultProfile string
	Hostname       string
	CacheDir       string
	Log            string // "syslog" | "stderr" | absolute path
	AliasesFile    string
	Aliases        map[string][]string // keys lower-cased
	LocalDomains   []string
	Queue          Queue
	Profiles       map[string]*Profile
}

// Queue is the [queue] table.
type Queue struct {
	Dir           string
	Retry         []time.Duration
	MaxAge        time.Duration
	NotifyTo      string
	RatePerMinute int
}

// Profile is one [profile.NAME] table: one mailbox and how to authenticate
// as it.
type Profile struct {
	Name                string
	Mailbox             string
	Senders             []string
	From                string // "rewrite" | "keep"
	Tenant              string
	ClientID            string
	Auth                string // "client_secret" | "client_certificate" | "device_code"
	ClientSecret        string
	ClientSecretFile    string
	ClientSecretExpires time.Time
	CertificateFile     string
	KeyFile             string
	KeyPassphraseFile   string
	SendX5C             bool
	Cloud               string
	SMTP                string
	Authority           string
	Scopes              []string
	CAFile              string
	MaxMessageSize      int64
	RatePerMinute       int
}

// DefaultMaxMessageSize is Exchange Online's submission limit.
const DefaultMaxMessageSize = 35 << 20

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

// duration is a Go duration that also takes days ("5d").
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = duration(v)
	return err
}

// ParseDuration reads a Go duration with an extra "d" (24h) unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q (examples: 90s, 30m, 36h, 5d)", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (examples: 90s, 30m, 36h, 5d)", s)
	}
	return d, nil
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
	Mailbox             string    `toml:"mailbox"`
	Senders             []string  `toml:"senders"`
	From                string    `toml:"from"`
	Tenant              string    `toml:"tenant"`
	ClientID            string    `toml:"client_id"`
	Auth                string    `toml:"auth"`
	ClientSecret        string    `toml:"client_secret"`
	ClientSecretFile    string    `toml:"client_secret_file"`
	ClientSecretExpires time.Time `toml:"client_secret_expires"`
	CertificateFile     string    `toml:"certificate_file"`
	KeyFile             string    `toml:"key_file"`
	KeyPassphraseFile   string    `toml:"key_passphrase_file"`
	SendX5C             bool      `toml:"send_x5c"`
	Cloud               string    `toml:"cloud"`
	Transport           string    `toml:"transport"`
	SMTP                string    `toml:"smtp"`
	Authority           string    `toml:"authority"`
	Scopes              []string  `toml:"scopes"`
	CAFile              string    `toml:"ca_file"`
	MaxMessageSize      any       `toml:"max_message_size"`
	RatePerMinute       int       `toml:"rate_per_minute"`
}

// Load reads and validates the configuration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, string(data), os.Getenv)
}

func parse(path, data string, getenv func(string) string) (*Config, error) {
	var raw rawConfig
	md, err := toml.Decode(data, &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Line: pe.Position.Line, Msg: oneLine(pe.Message) + " (TOML syntax)"}
		}
		return nil, &Error{File: path, Msg: oneLine(err.Error())}
	}
	lines := keyLines(data)
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, &Error{File: path, Line: lines[normKey(k)], Msg: fmt.Sprintf("unknown key %q: check the spelling; the keys are listed in oauth-sendmail.toml(5)", k.String())}
	}
	for _, k := range md.Keys() {
		if bad := nonCanonical(k); bad != "" {
			return nil, &Error{File: path, Line: lines[normKey(k)], Msg: fmt.Sprintf("key %q must be written in lower case (%q)", k.String(), strings.ToLower(bad))}
		}
	}
	c := &Config{
		File:           path,
		System:         strings.HasPrefix(filepath.Clean(path), "/etc/"),
		DefaultProfile: raw.DefaultProfile,
		Hostname:       raw.Hostname,
		CacheDir:       raw.CacheDir,
		Log:            raw.Log,
		AliasesFile:    raw.AliasesFile,
		Aliases:        map[string][]string{},
		Profiles:       map[string]*Profile{},
	}
	fail := func(key, format string, args ...any) error {
		return &Error{File: path, Line: lines[key], Msg: fmt.Sprintf(format, args...)}
	}
	if c.Hostname == "" {
		c.Hostname = defaultHostname()
	}
	switch {
	case c.Log == "":
		c.Log = "syslog"
	case c.Log == "syslog" || c.Log == "stderr" || filepath.IsAbs(c.Log):
	default:
		return nil, fail("log", "log = %q: use \"syslog\", \"stderr\" or an absolute file path", c.Log)
	}
	home := getenv("HOME")
	xdg := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return filepath.Join(home, fallback)
	}
	if c.CacheDir == "" {
		if c.System {
			c.CacheDir = "/var/cache/oauth-sendmail"
		} else {
			c.CacheDir = filepath.Join(xdg("XDG_CACHE_HOME", ".cache"), "oauth-sendmail")
		}
	}
	c.Queue = Queue{Dir: raw.Queue.Dir, NotifyTo: raw.Queue.NotifyTo, MaxAge: 5 * 24 * time.Hour, RatePerMinute: 30,
		Retry: []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}}
	if c.Queue.Dir == "" {
		if c.System {
			c.Queue.Dir = "/var/spool/oauth-sendmail"
		} else {
			c.Queue.Dir = filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "oauth-sendmail", "queue")
		}
	}
	if len(raw.Queue.Retry) > 0 {
		c.Queue.Retry = nil
		for _, d := range raw.Queue.Retry {
			if d <= 0 {
				return nil, fail("queue.retry", "queue.retry: intervals must be positive")
			}
			c.Queue.Retry = append(c.Queue.Retry, time.Duration(d))
		}
	}
	if raw.Queue.MaxAge != nil {
		c.Queue.MaxAge = time.Duration(*raw.Queue.MaxAge)
	}
	if raw.Queue.RatePerMinute != nil {
		if *raw.Queue.RatePerMinute < 0 {
			return nil, fail("queue.rate_per_minute", "queue.rate_per_minute must be 0 (no pacing) or more")
		}
		c.Queue.RatePerMinute = *raw.Queue.RatePerMinute
	}
	if c.Queue.NotifyTo != "" && !strings.Contains(c.Queue.NotifyTo, "@") {
		return nil, fail("queue.notify_to", "queue.notify_to = %q: give a full address (name@domain)", c.Queue.NotifyTo)
	}

	if c.AliasesFile != "" {
		if err := c.loadAliasesFile(c.AliasesFile); err != nil {
			return nil, fail("aliases_file", "%v", err)
		}
	}
	for name, v := range raw.Aliases {
		key := strings.ToLower(name)
		var targets []string
		switch v := v.(type) {
		case string:
			targets = []string{v}
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fail("aliases."+name, "aliases.%s: every element must be a string address", name)
				}
				targets = append(targets, s)
			}
		default:
			return nil, fail("aliases."+name, "aliases.%s: give an address or a list of addresses", name)
		}
		for i := range targets {
			targets[i] = strings.TrimSpace(targets[i])
			if targets[i] == "" {
				return nil, fail("aliases."+name, "aliases.%s: empty address", name)
			}
		}
		if len(targets) == 0 {
			return nil, fail("aliases."+name, "aliases.%s: empty list", name)
		}
		c.Aliases[key] = targets
	}
	c.LocalDomains = localDomains(c.Hostname, raw.LocalDomains)

	names := make([]string, 0, len(raw.Profile))
	for name := range raw.Profile {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p, err := buildProfile(name, raw.Profile[name], func(key, format string, args ...any) error {
			return fail("profile."+name+"."+key, format, args...)
		}, func(key string) error { return fail("profile."+name, "profile %q: %s is required", name, key) })
		if err != nil {
			return nil, err
		}
		c.Profiles[name] = p
	}
	if c.DefaultProfile != "" {
		if _, ok := c.Profiles[c.DefaultProfile]; !ok {
			return nil, fail("default_profile", "default_profile = %q names no [profile.%s] table (profiles: %s)", c.DefaultProfile, c.DefaultProfile, c.profileNames())
		}
	}
	if len(c.Profiles) == 0 {
		return nil, &Error{File: path, Msg: "no [profile.NAME] table: add one for the mailbox that sends (run `oauth-sendmail setup`)"}
	}
	return c, nil
}

func buildProfile(name string, r *rawProfile, fail func(key, format string, args ...any) error, required func(string) error) (*Profile, error) {
	p := &Profile{
		Name: name, Mailbox: strings.TrimSpace(r.Mailbox), Senders: r.Senders, From: r.From,
		Tenant: r.Tenant, ClientID: r.ClientID, Auth: r.Auth,
		ClientSecret: r.ClientSecret, ClientSecretFile: r.ClientSecretFile, ClientSecretExpires: r.ClientSecretExpires,
		CertificateFile: r.CertificateFile, KeyFile: r.KeyFile, KeyPassphraseFile: r.KeyPassphraseFile,
		SendX5C: r.SendX5C, Cloud: r.Cloud, SMTP: r.SMTP, Authority: r.Authority, Scopes: r.Scopes,
		CAFile: r.CAFile, RatePerMinute: r.RatePerMinute, MaxMessageSize: DefaultMaxMessageSize,
	}
	switch {
	case p.Mailbox == "":
		return nil, required("mailbox")
	case !strings.Contains(p.Mailbox, "@"):
		return nil, fail("mailbox", "profile %q: mailbox = %q is not an address (name@domain)", name, p.Mailbox)
	case p.Tenant == "":
		return nil, required("tenant")
	case p.ClientID == "":
		return nil, required("client_id")
	}
	if p.From == "" {
		p.From = "rewrite"
	}
	if p.From != "rewrite" && p.From != "keep" {
		return nil, fail("from", "profile %q: from = %q: use \"rewrite\" or \"keep\"", name, p.From)
	}
	if r.Transport != "" && r.Transport != "smtp" {
		return nil, fail("transport", "profile %q: transport = %q: only \"smtp\" is supported", name, r.Transport)
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
			return nil, fail("client_secret", "profile %q: both client_secret and client_secret_file are set: keep only client_secret_file", name)
		}
		if p.ClientSecret == "" && p.ClientSecretFile == "" {
			return nil, required("client_secret_file (or client_secret)")
		}
	case "client_certificate":
		if p.CertificateFile == "" {
			return nil, required("certificate_file")
		}
	case "device_code":
	default:
		return nil, fail("auth", "profile %q: auth = %q: use \"client_secret\", \"client_certificate\" or \"device_code\"", name, p.Auth)
	}
	if p.Cloud == "" {
		p.Cloud = "global"
	}
	cl, ok := clouds[p.Cloud]
	if !ok {
		return nil, fail("cloud", "profile %q: cloud = %q: use \"global\", \"usgov\", \"usgov-dod\" or \"china\"", name, p.Cloud)
	}
	if p.SMTP == "" {
		p.SMTP = cl.smtp
	}
	if !strings.Contains(p.SMTP, ":") {
		p.SMTP += ":587"
	}
	if p.Authority == "" {
		p.Authority = cl.authority
	}
	if !strings.HasPrefix(p.Authority, "https://") {
		return nil, fail("authority", "profile %q: authority = %q must be an https:// URL", name, p.Authority)
	}
	if !strings.HasSuffix(p.Authority, "/") {
		p.Authority += "/"
	}
	if len(p.Scopes) == 0 {
		if p.Auth == "device_code" {
			p.Scopes = []string{cl.delegatedScope}
		} else {
			p.Scopes = []string{cl.appScope}
		}
	}
	if r.MaxMessageSize != nil {
		n, err := parseSize(r.MaxMessageSize)
		if err != nil {
			return nil, fail("max_message_size", "profile %q: max_message_size: %v", name, err)
		}
		p.MaxMessageSize = n
	}
	if p.RatePerMinute < 0 {
		return nil, fail("rate_per_minute", "profile %q: rate_per_minute must be 0 or more", name)
	}
	return p, nil
}

// parseSize reads "35MB", "500KB", "1GB" or a plain number of bytes.
func parseSize(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		if v <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return v, nil
	case string:
		s := strings.ToUpper(strings.TrimSpace(v))
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a size (examples: \"35MB\", \"500KB\", 1048576)", v)
		}
		return n * mult, nil
	}
	return 0, fmt.Errorf("give a size like \"35MB\"")
}

// nonCanonical returns the component of k that names a field but is not
// spelt in lower case: BurntSushi/toml matches fields case-insensitively,
// and a silently accepted "Client_ID" would hide a typo class from the user.
func nonCanonical(k toml.Key) string {
	field := func(i int) string {
		if i < len(k) && k[i] != strings.ToLower(k[i]) {
			return k[i]
		}
		return ""
	}
	if s := field(0); s != "" {
		return s
	}
	switch strings.ToLower(k[0]) {
	case "queue":
		return field(1)
	case "profile":
		return field(2)
	}
	return ""
}

func normKey(k toml.Key) string { return strings.Join(k, ".") }

// keyLines maps each key path ("profile.alerts.client_id") to the line
// defining it. The TOML library keeps key positions private, so unknown-key
// errors find their line here; this handles tables, dotted and quoted keys,
// which is what configuration files use.
func keyLines(data string) map[string]int {
	lines := map[string]int{}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndex(line, "]")
			if end < 0 {
				continue
			}
			table = splitKey(strings.Trim(line[:end+1], "[]"))
			if _, ok := lines[table]; !ok {
				lines[table] = n
			}
			continue
		}
		eq := strings.Index(line, "=")
		if eq <= 0 {
			continue
		}
		key := splitKey(line[:eq])
		if table != "" {
			key = table + "." + key
		}
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
	}
	return lines
}

func splitKey(s string) string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
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

func defaultHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ToLower(h)
}

// Secret returns the profile's client secret. The value never appears in an
// error.
func (p *Profile) Secret() (string, error) {
	if p.ClientSecret != "" {
		return strings.TrimSpace(p.ClientSecret), nil
	}
	if p.ClientSecretFile == "" {
		return "", fmt.Errorf("profile %q: no client_secret_file: add one holding the secret's Value from Entra ID", p.Name)
	}
	fi, err := os.Stat(p.ClientSecretFile)
	if err != nil {
		if os.IsPermission(err) {
			return "", fmt.Errorf("profile %q: cannot read client_secret_file %s: permission denied", p.Name, p.ClientSecretFile)
		}
		return "", fmt.Errorf("profile %q: client_secret_file: %v", p.Name, err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("profile %q: %s can be read by other users: chmod 0640 %s", p.Name, p.ClientSecretFile, p.ClientSecretFile)
	}
	b, err := os.ReadFile(p.ClientSecretFile)
	if err != nil {
		if os.IsPermission(err) {
			return "", fmt.Errorf("profile %q: cannot read client_secret_file %s: permission denied", p.Name, p.ClientSecretFile)
		}
		return "", fmt.Errorf("profile %q: client_secret_file: %v", p.Name, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("profile %q: %s is empty: put the client secret's Value (not its ID) in it", p.Name, p.ClientSecretFile)
	}
	return s, nil
}
