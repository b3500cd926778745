package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LocateInput is what Locate looks at; the caller supplies the environment
// so that a privileged run decides in one place what it trusts.
type LocateInput struct {
	Explicit   string              // -C
	Privileged bool                // setgid and not root: Explicit and the environment are not trusted
	Getenv     func(string) string // nil: os.Getenv
	Exists     func(string) bool   // nil: os.Stat succeeds
}

// Locate returns the configuration file to use: -C, then
// $OAUTH_SENDMAIL_CONFIG, then the user's XDG file if it exists, then the
// system file. A privileged run uses only the system file, since anything
// else could point a setgid binary at a file that reads the secret.
func Locate(in LocateInput) string {
	if in.Privileged {
		return SystemFile
	}
	getenv, exists := in.Getenv, in.Exists
	if getenv == nil {
		getenv = os.Getenv
	}
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	if in.Explicit != "" {
		return in.Explicit
	}
	if v := getenv("OAUTH_SENDMAIL_CONFIG"); v != "" {
		return v
	}
	dir := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		dir = ""
		if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir != "" {
		if p := filepath.Join(dir, "oauth-sendmail", "config.toml"); exists(p) {
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
	return nil, fmt.Errorf("no profile %q in %s: use one of %s", name, c.File, c.profileNames())
}

// ChooseProfile picks the profile for a message. For the first of addrs
// (envelope sender, then From address) that any profile claims: a profile
// whose mailbox it is, else one whose senders list it literally, else one
// whose senders match it with a *. Else default_profile; else the only
// profile. Ties go to the profile whose name sorts first.
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
		for _, n := range names {
			if strings.EqualFold(c.Profiles[n].Mailbox, a) {
				return c.Profiles[n], nil
			}
		}
		for _, glob := range []bool{false, true} {
			for _, n := range names {
				for _, pat := range c.Profiles[n].Senders {
					if strings.Contains(pat, "*") == glob && c.senderMatch(pat, a) {
						return c.Profiles[n], nil
					}
				}
			}
		}
	}
	if c.DefaultProfile != "" {
		return c.Profile(c.DefaultProfile)
	}
	if len(names) == 1 {
		return c.Profiles[names[0]], nil
	}
	return nil, fmt.Errorf("no profile matches the sender and there is no default_profile: set default_profile in %s (profiles: %s)", c.File, c.profileNames())
}

// senderMatch matches a lower-cased address against a senders pattern. A
// local sender is one user whatever the spelling: "root", "root@localhost"
// and "root@<hostname>" all match "root" and "root@<hostname>".
func (c *Config) senderMatch(pat, addr string) bool {
	if globMatch(pat, addr) {
		return true
	}
	local, ok := c.IsLocal(addr)
	if !ok {
		return false
	}
	if plocal, isLocalPat := c.IsLocal(pat); isLocalPat {
		return globMatch(plocal, local)
	}
	return false
}

// globMatch reports whether s matches pattern, where * stands for any run
// of characters and everything else is literal.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// maxSecretSize bounds what is read from a secret file: Entra secrets are
// 40 characters, and a wrong path must not read a disk image into memory.
const maxSecretSize = 64 << 10

// Secret returns the profile's client secret: the inline client_secret, or
// the content of client_secret_file with surrounding whitespace trimmed.
// The value never appears in an error.
func (p *Profile) Secret() (string, error) {
	if p.ClientSecret != "" {
		s := strings.TrimSpace(p.ClientSecret)
		if s == "" {
			return "", fmt.Errorf("profile %q: client_secret is blank: put the secret's Value in client_secret_file", p.Name)
		}
		return s, nil
	}
	if p.ClientSecretFile == "" {
		return "", fmt.Errorf("profile %q: no client_secret_file: add one holding the secret's Value from Entra ID", p.Name)
	}
	file := p.ClientSecretFile
	f, err := os.Open(file)
	if err != nil {
		if os.IsPermission(err) {
			return "", fmt.Errorf("profile %q: cannot read client_secret_file %s: permission denied (run as root or a member of its group)", p.Name, file)
		}
		if os.IsNotExist(err) {
			return "", fmt.Errorf("profile %q: client_secret_file %s does not exist: create it holding the secret's Value (chmod 0640)", p.Name, file)
		}
		return "", fmt.Errorf("profile %q: client_secret_file: %v", p.Name, err)
	}
	defer f.Close()
	// Checked on the open file, so the mode judged is that of the bytes read.
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("profile %q: client_secret_file: %v", p.Name, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("profile %q: client_secret_file %s is not a regular file: point it at the file holding the secret", p.Name, file)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("profile %q: client_secret_file %s is open to other users (mode %04o): chmod 0640 %s", p.Name, file, fi.Mode().Perm(), file)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("profile %q: reading client_secret_file %s failed: %v", p.Name, file, err)
	}
	if len(b) > maxSecretSize {
		return "", fmt.Errorf("profile %q: client_secret_file %s is larger than 64 KiB: it should hold only the secret's Value", p.Name, file)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("profile %q: client_secret_file %s is empty: put the client secret's Value (not its ID) in it", p.Name, file)
	}
	return s, nil
}
