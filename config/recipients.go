package config

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// LocateInput is what Locate looks at; the caller supplies the environment
// so that a privileged run decides in one place what it trusts.
type LocateInput struct {
	Explicit   string // -C
	Privileged bool   // setgid and not root: ignore Explicit and the environment
	Getenv     func(string) string
	Exists     func(string) bool
}

// Locate returns the configuration file to use: -C, then
// $OAUTH_SENDMAIL_CONFIG, then the user's XDG file if it exists, then the
// system file. A privileged run uses only the system file.
func Locate(in LocateInput) string {
	if in.Privileged {
		return SystemFile
	}
	if in.Explicit != "" {
		return in.Explicit
	}
	if v := in.Getenv("OAUTH_SENDMAIL_CONFIG"); v != "" {
		return v
	}
	dir := in.Getenv("XDG_CONFIG_HOME")
	if dir == "" && in.Getenv("HOME") != "" {
		dir = filepath.Join(in.Getenv("HOME"), ".config")
	}
	if dir != "" {
		if p := filepath.Join(dir, "oauth-sendmail", "config.toml"); in.Exists(p) {
			return p
		}
	}
	return SystemFile
}

// Profile returns the named profile.
func (c *Config) Profile(name string) (*Profile, error) {
	if p, ok := c.Profiles[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no profile %q in %s (profiles: %s)", name, c.File, c.profileNames())
}

// ChooseProfile picks the profile for a message: the first of addrs (the
// envelope sender, then the From address, then the user) that is a
// profile's mailbox or matches one of its senders patterns; else
// default_profile; else the only profile.
func (c *Config) ChooseProfile(addrs ...string) (*Profile, error) {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, a := range addrs {
		a = strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
		if a == "" {
			continue
		}
		local, isLocal := c.IsLocal(a)
		for _, n := range names {
			p := c.Profiles[n]
			if strings.EqualFold(p.Mailbox, a) {
				return p, nil
			}
			for _, pat := range p.Senders {
				pat = strings.ToLower(pat)
				if ok, _ := path.Match(pat, a); ok {
					return p, nil
				}
				if isLocal && !strings.Contains(pat, "@") {
					if ok, _ := path.Match(pat, local); ok {
						return p, nil
					}
				}
			}
		}
	}
	if c.DefaultProfile != "" {
		return c.Profiles[c.DefaultProfile], nil
	}
	if len(names) == 1 {
		return c.Profiles[names[0]], nil
	}
	return nil, fmt.Errorf("no profile matches the sender and there is no default_profile: set default_profile in %s (profiles: %s)", c.File, c.profileNames())
}

// IsLocal reports whether addr names a local user (no domain, or a domain
// of this host) and returns the lower-cased local part.
func (c *Config) IsLocal(addr string) (string, bool) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return strings.ToLower(addr), true
	}
	domain := strings.ToLower(addr[at+1:])
	for _, d := range c.LocalDomains {
		if domain == d {
			return strings.ToLower(addr[:at]), true
		}
	}
	return "", false
}

// NoUserError is an unknown local recipient.
type NoUserError struct {
	Name string
	File string
}

func (e *NoUserError) Error() string {
	return fmt.Sprintf("unknown local recipient %q: add it under [aliases] (%s = \"someone@example.com\") or a \"*\" catch-all in %s", e.Name, e.Name, e.File)
}

// ResolveRecipient returns the addresses addr stands for: itself when it is
// not local, else its aliases, followed through chains.
func (c *Config) ResolveRecipient(addr string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := c.resolve(strings.TrimSpace(addr), nil, seen, &out)
	return out, err
}

func (c *Config) resolve(addr string, chain []string, seen map[string]bool, out *[]string) error {
	name, local := c.IsLocal(addr)
	if !local {
		if k := strings.ToLower(addr); !seen[k] {
			seen[k] = true
			*out = append(*out, addr)
		}
		return nil
	}
	for _, prev := range chain {
		if prev == name {
			return fmt.Errorf("alias loop %s -> %s in %s: make one of them a real address", strings.Join(chain, " -> "), name, c.File)
		}
	}
	targets, ok := c.Aliases[name]
	if !ok {
		targets, ok = c.Aliases["*"]
		if !ok {
			return &NoUserError{Name: name, File: c.File}
		}
		// The catch-all points at real mailboxes; a local name there would
		// only find the catch-all again.
		for _, t := range targets {
			if _, l := c.IsLocal(t); l {
				return fmt.Errorf("the \"*\" alias in %s must list full addresses, not the local name %q", c.File, t)
			}
		}
	}
	if len(chain) > 20 {
		return fmt.Errorf("alias chain too long at %q in %s", name, c.File)
	}
	for _, t := range targets {
		if err := c.resolve(t, append(chain, name), seen, out); err != nil {
			return err
		}
	}
	return nil
}

// loadAliasesFile reads an aliases(5) file ("name: a, b"), for entries
// the TOML does not define. Entries that are not addresses (|command,
// /file, :include:) cannot be delivered through Exchange and are skipped.
func (c *Config) loadAliasesFile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var logical []string
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(logical) > 0 {
			logical[len(logical)-1] += " " + strings.TrimSpace(line)
			continue
		}
		logical = append(logical, line)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, l := range logical {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		var targets []string
		for _, t := range strings.Split(val, ",") {
			t = strings.Trim(strings.TrimSpace(t), `"`)
			if t == "" || strings.HasPrefix(t, "|") || strings.HasPrefix(t, "/") || strings.HasPrefix(t, ":include:") {
				continue
			}
			targets = append(targets, t)
		}
		if len(targets) > 0 {
			c.Aliases[strings.ToLower(strings.TrimSpace(name))] = targets
		}
	}
	return nil
}

// localDomains are the domains whose addresses mean a user of this host.
func localDomains(hostname string, extra []string) []string {
	set := []string{}
	add := func(d string) {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			return
		}
		for _, x := range set {
			if x == d {
				return
			}
		}
		set = append(set, d)
	}
	add("localhost")
	add("localhost.localdomain")
	add(hostname)
	if h, err := os.Hostname(); err == nil {
		add(h)
		if i := strings.IndexByte(h, '.'); i > 0 {
			add(h[:i])
		}
	}
	if b, err := os.ReadFile("/etc/mailname"); err == nil {
		add(string(b))
	}
	for _, d := range extra {
		add(d)
	}
	return set
}
