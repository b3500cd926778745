package config

import (
	"fmt"
	"strings"
)

// IsLocal reports whether addr names a user of this host (no domain, or a
// domain in LocalDomains) and returns the lower-cased local part.
func (c *Config) IsLocal(addr string) (string, bool) {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if addr == "" {
		return "", false
	}
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return strings.ToLower(addr), true
	}
	domain := strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
	for _, d := range c.LocalDomains {
		if domain == d {
			return strings.ToLower(addr[:at]), true
		}
	}
	return "", false
}

// NoUserError is a local recipient that no alias and no "*" catch-all
// covers (sendmail exits 67, EX_NOUSER).
type NoUserError struct {
	Name string
	File string // the configuration to add it to
}

func (e *NoUserError) Error() string {
	return fmt.Sprintf("unknown local recipient %q: add it under [aliases] (%s = \"someone@example.com\") or a \"*\" catch-all in %s", e.Name, e.Name, e.File)
}

// ResolveRecipient returns the addresses addr stands for: addr itself when
// it is not local; else its aliases (or the "*" catch-all's), followed
// through chains of local names. The result keeps order, without repeats.
func (c *Config) ResolveRecipient(addr string) ([]string, error) {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if addr == "" {
		return nil, fmt.Errorf("empty recipient address: give name@domain or a local name")
	}
	r := resolver{c: c, seen: map[string]bool{}}
	if err := r.resolve(addr, nil); err != nil {
		return nil, err
	}
	return r.out, nil
}

type resolver struct {
	c    *Config
	seen map[string]bool
	out  []string
}

// resolve expands addr; chain holds the alias keys being expanded, so a
// key met again is a loop (including a "*" that names an unknown local
// name, which would find "*" again).
func (r *resolver) resolve(addr string, chain []string) error {
	name, local := r.c.IsLocal(addr)
	if !local {
		if k := strings.ToLower(addr); !r.seen[k] {
			r.seen[k] = true
			r.out = append(r.out, addr)
		}
		return nil
	}
	key := name
	targets, ok := r.c.Aliases[key]
	if !ok {
		key = "*"
		if targets, ok = r.c.Aliases[key]; !ok {
			return &NoUserError{Name: name, File: r.c.File}
		}
	}
	for _, prev := range chain {
		if prev == key {
			return fmt.Errorf("alias loop %s -> %s in %s: make one of them a full address (name@domain)", strings.Join(chain, " -> "), name, r.c.File)
		}
	}
	chain = append(chain, key)
	for _, t := range targets {
		if err := r.resolve(t, chain); err != nil {
			return err
		}
	}
	return nil
}

// parseAliasesFile adds the entries of an aliases(5) file ("name: a, b",
// indented continuation lines) to aliases. Targets that Exchange cannot
// deliver (|command, /file, :include:, \name) are skipped, and a name left
// without targets is left out.
func parseAliasesFile(text string, aliases map[string][]string) {
	var logical []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(logical) > 0 {
			logical[len(logical)-1] += " " + trimmed
			continue
		}
		logical = append(logical, trimmed)
	}
	for _, l := range logical {
		name, val, ok := strings.Cut(l, ":")
		name = strings.ToLower(strings.Trim(strings.TrimSpace(name), `"`))
		if !ok || name == "" {
			continue
		}
		var targets []string
		for _, t := range strings.Split(val, ",") {
			t = strings.Trim(strings.TrimSpace(t), `"`)
			if t == "" || strings.ContainsAny(t[:1], `|/\`) || strings.HasPrefix(t, ":include:") || strings.ContainsAny(t, " \t") {
				continue
			}
			targets = append(targets, t)
		}
		if len(targets) > 0 {
			aliases[name] = targets
		}
	}
}

// localDomains are the domains whose addresses mean a user of this host.
func localDomains(hostname, osHost, mailname string, extra []string) []string {
	var set []string
	add := func(d string) {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
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
	add(osHost)
	if short, _, ok := strings.Cut(osHost, "."); ok {
		add(short)
	}
	add(oneLine(mailname))
	for _, d := range extra {
		add(d)
	}
	return set
}
