package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"golang.org/x/term"

	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/sendmail"
)

// setupInput is what setup needs to know.
type setupInput struct {
	Profile, Tenant, ClientID, Mailbox string
	Auth                               string // client_secret | client_certificate | device_code
	SecretFile, Certificate, Key       string
	Cloud                              string
	secret                             string // read from stdin or the terminal, written to SecretFile
}

// cmdSetup writes (or updates) a profile and prints the remaining steps in
// Entra ID and Exchange Online with the user's values filled in.
func cmdSetup(ctx context.Context, args []string, env sendmail.Env) error {
	f := newFlags("setup", env)
	in := setupInput{}
	f.StringVar(&in.Tenant, "tenant", "", "tenant domain or ID")
	f.StringVar(&in.ClientID, "client-id", "", "application (client) ID")
	f.StringVar(&in.Mailbox, "mailbox", "", "the mailbox that sends")
	f.StringVar(&in.SecretFile, "secret-file", "", "file holding the client secret's Value")
	secretStdin := f.Bool("secret-stdin", false, "read the client secret from standard input")
	f.StringVar(&in.Certificate, "certificate", "", "PEM certificate (and key) for auth = client_certificate")
	f.StringVar(&in.Key, "key", "", "PEM private key, when not in the certificate file")
	deviceCode := f.Bool("device-code", false, "delegated sign-in (SMTP.Send) instead of app-only")
	f.StringVar(&in.Cloud, "cloud", "", "global | usgov | usgov-dod | china")
	yes := f.Bool("yes", false, "do not ask: use the flags as given")
	if err := f.parse(args); err != nil {
		return err
	}
	in.Profile = f.profile
	interactive := !*yes && isTTY(env.Stdout) && isTTYReader(env.Stdin)
	if interactive {
		if err := askSetup(&in, env, *deviceCode); err != nil {
			return err
		}
	} else {
		switch {
		case *secretStdin:
			b, err := io.ReadAll(io.LimitReader(env.Stdin, 4096))
			if err != nil {
				return exit(sendmail.ExIOErr, "reading the secret: %v", err)
			}
			in.secret = strings.TrimSpace(string(b))
		}
		in.Auth = "client_secret"
		if in.Certificate != "" {
			in.Auth = "client_certificate"
		}
		if *deviceCode {
			in.Auth = "device_code"
		}
	}
	if err := in.complete(); err != nil {
		return exit(sendmail.ExUsage, "%v", err)
	}
	path := f.configFile
	if path == "" {
		path = defaultConfigPath(env)
	}
	return writeSetup(path, in, env.Stdout)
}

func isTTYReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (in *setupInput) complete() error {
	var missing []string
	for _, kv := range [][2]string{{"--tenant", in.Tenant}, {"--client-id", in.ClientID}, {"--mailbox", in.Mailbox}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if in.Auth == "client_secret" && in.SecretFile == "" && in.secret == "" {
		missing = append(missing, "--secret-file or --secret-stdin (or --certificate, or --device-code)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("setup needs %s", strings.Join(missing, ", "))
	}
	if !strings.Contains(in.Mailbox, "@") {
		return fmt.Errorf("--mailbox %q is not an address", in.Mailbox)
	}
	for _, v := range []string{in.Tenant, in.ClientID, in.Mailbox, in.SecretFile, in.Certificate, in.Key, in.Cloud, in.Profile} {
		if strings.ContainsAny(v, "\"\\\r\n\x00") {
			return fmt.Errorf("%q: quotes, backslashes and line breaks are not allowed", v)
		}
	}
	if in.Profile == "" {
		in.Profile = profileName(in.Mailbox)
	}
	return nil
}

// profileName derives a profile name from a mailbox: alerts@x → alerts.
func profileName(mailbox string) string {
	return regexp.MustCompile(`[^a-z0-9_-]+`).ReplaceAllString(strings.ToLower(strings.SplitN(mailbox, "@", 2)[0]), "-")
}

// askSetup prompts on the terminal, with defaults; the secret is not echoed.
func askSetup(in *setupInput, env sendmail.Env, deviceCode bool) error {
	r := bufio.NewReader(env.Stdin)
	ask := func(label, def string) string {
		if def != "" {
			fmt.Fprintf(env.Stdout, "%s [%s]: ", label, def)
		} else {
			fmt.Fprintf(env.Stdout, "%s: ", label)
		}
		line, _ := r.ReadString('\n')
		if line = strings.TrimSpace(line); line == "" {
			return def
		}
		return line
	}
	in.Tenant = ask("Tenant (domain like contoso.onmicrosoft.com, or Directory ID)", in.Tenant)
	in.ClientID = ask("Application (client) ID", in.ClientID)
	in.Mailbox = ask("Mailbox that sends (e.g. alerts@contoso.com)", in.Mailbox)
	def := "secret"
	if deviceCode {
		def = "device"
	} else if in.Certificate != "" {
		def = "certificate"
	}
	switch ask("Authenticate with a client secret, a certificate, or device sign-in (secret/certificate/device)", def) {
	case "certificate", "cert":
		in.Auth = "client_certificate"
		in.Certificate = ask("Certificate file (PEM, with the key or give a key file next)", in.Certificate)
		in.Key = ask("Key file (empty if in the certificate file)", in.Key)
	case "device":
		in.Auth = "device_code"
	default:
		in.Auth = "client_secret"
		if in.SecretFile == "" {
			fmt.Fprint(env.Stdout, "Client secret Value (not the Secret ID; not shown): ")
			f, _ := env.Stdin.(*os.File)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(env.Stdout)
			if err != nil {
				return exit(sendmail.ExIOErr, "reading the secret: %v", err)
			}
			in.secret = strings.TrimSpace(string(b))
		}
	}
	if in.Profile == "" {
		in.Profile = profileName(in.Mailbox)
	}
	in.Profile = ask("Profile name", in.Profile)
	return nil
}

func defaultConfigPath(env sendmail.Env) string {
	if os.Geteuid() == 0 {
		return config.SystemFile
	}
	dir := env.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		dir = filepath.Join(env.Getenv("HOME"), ".config")
	}
	return filepath.Join(dir, "oauth-sendmail", "config.toml")
}

// writeSetup writes the secret (if given) and the profile, then prints what
// changed and the steps left.
func writeSetup(path string, in setupInput, w io.Writer) error {
	system := strings.HasPrefix(filepath.Clean(path), "/etc/")
	fileMode, dirMode := os.FileMode(0o600), os.FileMode(0o700)
	if system {
		fileMode, dirMode = 0o640, 0o750
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return exit(sendmail.ExCantCreat, "%v", err)
	}
	var changes []string
	if in.secret != "" {
		if in.SecretFile == "" {
			in.SecretFile = filepath.Join(dir, in.Profile+".secret")
		}
		if err := writeFileAtomic(in.SecretFile, []byte(in.secret+"\n"), fileMode); err != nil {
			return exit(sendmail.ExCantCreat, "writing %s: %v", in.SecretFile, err)
		}
		serviceGroup(in.SecretFile, system)
		changes = append(changes, fmt.Sprintf("wrote the client secret to %s (mode %04o)", in.SecretFile, fileMode))
	}
	keys := [][2]string{
		{"mailbox", in.Mailbox},
		{"tenant", in.Tenant},
		{"client_id", in.ClientID},
		{"auth", in.Auth},
	}
	switch in.Auth {
	case "client_secret":
		keys = append(keys, [2]string{"client_secret_file", in.SecretFile})
	case "client_certificate":
		keys = append(keys, [2]string{"certificate_file", in.Certificate})
		if in.Key != "" {
			keys = append(keys, [2]string{"key_file", in.Key})
		}
	}
	if in.Cloud != "" {
		keys = append(keys, [2]string{"cloud", in.Cloud})
	}
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return exit(sendmail.ExIOErr, "%v", err)
	}
	text := string(old)
	if len(old) == 0 {
		text = fmt.Sprintf("# oauth-sendmail configuration, written by `oauth-sendmail setup`.\n# Every key: oauth-sendmail.toml(5).\n\ndefault_profile = %q\n\n[aliases]\n# Local recipients (root, www-data, ...) with no alias of their own.\n\"*\" = %q\n", in.Profile, in.Mailbox)
		changes = append(changes, "created "+path+" with default_profile = \""+in.Profile+"\" and local mail going to "+in.Mailbox)
	}
	text, edits := setProfileKeys(text, in.Profile, keys)
	changes = append(changes, edits...)

	// Check the result strictly before it replaces anything.
	tmp, err := os.CreateTemp(dir, ".config.toml.*")
	if err != nil {
		return exit(sendmail.ExCantCreat, "%v", err)
	}
	tmp.WriteString(text)
	tmp.Close()
	defer os.Remove(tmp.Name())
	if _, err := config.Load(tmp.Name()); err != nil {
		return exit(sendmail.ExConfig, "the updated configuration would not load, nothing written: %v", strings.Replace(err.Error(), tmp.Name(), path, 1))
	}
	if err := writeFileAtomic(path, []byte(text), fileMode); err != nil {
		return exit(sendmail.ExCantCreat, "writing %s: %v", path, err)
	}
	serviceGroup(path, system)
	fmt.Fprintf(w, "%s:\n", path)
	for _, c := range changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintln(w)
	return adminSteps().Execute(w, map[string]string{
		"Profile": in.Profile, "Tenant": in.Tenant, "ClientID": in.ClientID, "Mailbox": in.Mailbox,
		"Delegated": map[bool]string{true: "yes"}[in.Auth == "device_code"],
	})
}

// serviceGroup gives a system install's file to the oauth-sendmail group,
// which the setgid binary runs with.
func serviceGroup(path string, system bool) {
	if !system {
		return
	}
	if g, err := user.LookupGroup("oauth-sendmail"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			os.Chown(path, 0, gid)
		}
	}
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// setProfileKeys sets keys in [profile.NAME], editing the text line by line
// so that comments and other profiles stay as they are. It returns the new
// text and what it did.
func setProfileKeys(text, name string, keys [][2]string) (string, []string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	header := regexp.MustCompile(`^\s*\[\s*profile\.("?)` + regexp.QuoteMeta(name) + `("?)\s*\]\s*(#.*)?$`)
	start := -1
	for i, l := range lines {
		if header.MatchString(l) {
			start = i
			break
		}
	}
	var changes []string
	if start < 0 {
		lines = append(lines, "", "[profile."+name+"]")
		for _, kv := range keys {
			lines = append(lines, fmt.Sprintf("%s = %q", kv[0], kv[1]))
		}
		return strings.Join(lines, "\n") + "\n", append(changes, "added [profile."+name+"]")
	}
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		if strings.HasPrefix(strings.TrimSpace(lines[i]), "[") {
			end = i
			break
		}
	}
	for _, kv := range keys {
		re := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(kv[0]) + `\s*=`)
		newLine := fmt.Sprintf("%s = %q", kv[0], kv[1])
		found := false
		for i := start + 1; i < end; i++ {
			if re.MatchString(lines[i]) {
				found = true
				if strings.TrimSpace(lines[i]) != newLine {
					lines[i] = newLine
					changes = append(changes, fmt.Sprintf("[profile.%s] %s changed", name, kv[0]))
				}
				break
			}
		}
		if !found {
			at := end
			for at > start+1 && strings.TrimSpace(lines[at-1]) == "" {
				at--
			}
			lines = append(lines[:at], append([]string{newLine}, lines[at:]...)...)
			end++
			changes = append(changes, fmt.Sprintf("[profile.%s] %s added", name, kv[0]))
		}
	}
	if len(changes) == 0 {
		changes = append(changes, "[profile."+name+"] already up to date")
	}
	return strings.Join(lines, "\n") + "\n", changes
}

// adminSteps is parsed on first use (see guid).
var adminSteps = sync.OnceValue(func() *template.Template { return template.Must(template.New("steps").Parse(adminStepsText)) })

const adminStepsText = `Remaining steps, as an administrator of {{.Tenant}}:
{{if .Delegated}}
1. In the Entra admin center, App registrations > {{.ClientID}}:
   - API permissions > Add a permission > Microsoft Graph > Delegated permissions >
     SMTP.Send (and offline_access), then Grant admin consent (or let the user consent);
   - Authentication > Advanced settings > Allow public client flows: Yes
     (the device code sign-in needs it).

2. Allow SMTP AUTH for the mailbox (PowerShell, ExchangeOnlineManagement module):

   Connect-ExchangeOnline -Organization {{.Tenant}}
   Set-CASMailbox -Identity '{{.Mailbox}}' -SmtpClientAuthenticationDisabled $false

3. Sign in once as {{.Mailbox}} (the refresh token is cached):

   oauth-sendmail login --profile {{.Profile}}
{{else}}
1. Give the app the right to send, with admin consent. Either open this URL
   as an administrator:

   https://login.microsoftonline.com/{{.Tenant}}/v2.0/adminconsent?client_id={{.ClientID}}&scope=https://outlook.office365.com/.default

   or, in the Entra admin center: App registrations > {{.ClientID}} > API permissions >
   Add a permission > APIs my organization uses > Office 365 Exchange Online >
   Application permissions > SMTP.SendAsApp, then Grant admin consent.

2. Register the app in Exchange Online and give it the mailbox (PowerShell,
   ExchangeOnlineManagement module):

   Connect-ExchangeOnline -Organization {{.Tenant}}
   New-ServicePrincipal -AppId {{.ClientID}} -ObjectId <ENTERPRISE-APP-OBJECT-ID>
   Get-ServicePrincipal | Where-Object AppId -eq '{{.ClientID}}'
   Add-MailboxPermission -Identity '{{.Mailbox}}' -User <ENTERPRISE-APP-OBJECT-ID> -AccessRights FullAccess
   Set-CASMailbox -Identity '{{.Mailbox}}' -SmtpClientAuthenticationDisabled $false

   <ENTERPRISE-APP-OBJECT-ID> is the Object ID on the Enterprise applications page of
   the app (Enterprise applications > your app > Overview), NOT the one under App
   registrations: the two differ, and the wrong one gives 535 5.7.3 later.

   Least privilege instead of step 1 (RBAC for Applications: the app can send as
   this mailbox only, and needs no SMTP.SendAsApp permission in Entra ID):

   New-ManagementScope -Name 'oauth-sendmail {{.Mailbox}}' -RecipientRestrictionFilter "PrimarySmtpAddress -eq '{{.Mailbox}}'"
   New-ManagementRoleAssignment -Role 'Application SMTP.SendAsApp' -App <ENTERPRISE-APP-OBJECT-ID> -CustomResourceScope 'oauth-sendmail {{.Mailbox}}'
{{end}}
Then check every layer, and send yourself a message:

   oauth-sendmail doctor --profile {{.Profile}} --send-test you@example.com
`
