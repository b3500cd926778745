package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

// profileTOML is a profile pointing at w's fakes.
func profileTOML(w *harness.World, name, mailbox, clientID, auth string, extra string) string {
	return fmt.Sprintf(`
[profile.%s]
mailbox = %q
senders = ["*@%s.contoso.test"]
tenant = %q
client_id = %q
auth = %q
authority = %q
smtp = %q
ca_file = %q
%s`, name, mailbox, name, harness.Tenant, clientID, auth, w.Entra.URL, w.Exchange.Addr, filepath.Join(w.Dir, "ca.pem"), extra)
}

func writeCertificate(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "alerts app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := x509.MarshalPKCS8PrivateKey(key)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// Acceptance 1: a certificate profile; a wrong key gets the AADSTS700027
// remedy.
func TestCertificateProfile(t *testing.T) {
	w := newWorld(t)
	certFile := filepath.Join(w.Dir, "cert.pem")
	cert := writeCertificate(t, certFile)
	w.Entra.AddCertApp(harness.Tenant, "cert-app", cert)
	w.Extra = profileTOML(w, "certs", "certs@contoso.test", "cert-app", "client_certificate", fmt.Sprintf("certificate_file = %q\n", certFile))
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	res := w.Run("Subject: cert\n\nx\n", "sendmail", "-f", "job@certs.contoso.test", "ops@contoso.test")
	if res.Code != 0 {
		t.Fatalf("%s", res)
	}
	if got := w.Exchange.Received(); len(got) != 1 || got[0].User != "certs@contoso.test" {
		t.Fatalf("received %+v", got)
	}
	// Another key pair in the same file: the assertion no longer verifies.
	writeCertificate(t, certFile)
	os.RemoveAll(filepath.Join(w.Dir, "cache")) // else the cached token is still good
	res = w.Run("Subject: cert\n\nx\n", "sendmail", "-odi", "-f", "job@certs.contoso.test", "ops@contoso.test")
	if res.Code != 78 || !strings.Contains(res.Stderr, "AADSTS700027") || !strings.Contains(res.Stderr, "upload") {
		t.Errorf("wrong key: %s", res)
	}
	key, _ := os.ReadFile(certFile)
	if strings.Contains(res.Stderr, string(key[len(key)-100:len(key)-40])) {
		t.Error("key material in the output")
	}
}

// Acceptance 2: device-code login, later sends from the cache, and a
// revoked sign-in that holds the message with the login hint.
func TestDeviceCodeLogin(t *testing.T) {
	w := newWorld(t)
	w.Entra.AddUser(harness.Tenant, "public-app", "jane@contoso.test")
	w.Extra = profileTOML(w, "jane", "jane@contoso.test", "public-app", "device_code", "")
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	res := w.Run("Subject: x\n\nx\n", "sendmail", "-odi", "-f", "jane@contoso.test", "ops@contoso.test")
	if res.Code != 78 || !strings.Contains(res.Stderr, "oauth-sendmail login --profile jane") {
		t.Fatalf("before login: %s", res)
	}
	res = w.Run("", "oauth-sendmail", "login", "--profile", "jane")
	if res.Code != 0 || !strings.Contains(res.Stdout, "enter the code") || !strings.Contains(res.Stdout, "signed in") {
		t.Fatalf("login: %s", res)
	}
	before := w.Entra.TokenRequests()
	res = w.Run("Subject: delegated\n\nx\n", "sendmail", "-f", "jane@contoso.test", "ops@contoso.test")
	if res.Code != 0 || w.Entra.TokenRequests() != before {
		t.Fatalf("send after login: %s (token requests %d → %d)", res, before, w.Entra.TokenRequests())
	}
	if got := w.Exchange.Received(); len(got) != 1 || got[0].User != "jane@contoso.test" {
		t.Fatalf("received %+v", got)
	}
	// The access token is gone from the cache (expired): the refresh token
	// gets a new one.
	cacheFile := filepath.Join(w.Dir, "cache", "jane.json")
	evictAccessTokens(t, cacheFile)
	if res := w.Run("Subject: refreshed\n\nx\n", "sendmail", "-f", "jane@contoso.test", "ops@contoso.test"); res.Code != 0 {
		t.Fatalf("send with the refresh token: %s", res)
	}
	// Revoked: held, with the hint; -odi says 78.
	w.Entra.RevokeRefreshTokens()
	evictAccessTokens(t, cacheFile)
	res = w.Run("Subject: revoked\n\nx\n", "sendmail", "-f", "jane@contoso.test", "ops@contoso.test")
	if res.Code != 0 || !strings.Contains(res.Stderr, "held") || !strings.Contains(res.Stderr, "oauth-sendmail login --profile jane") {
		t.Errorf("revoked: %s", res)
	}
	if q := w.Run("", "mailq"); !strings.Contains(q.Stdout, "login --profile jane") {
		t.Errorf("mailq does not say why: %s", q.Stdout)
	}
	if n := len(w.Exchange.Received()); n != 2 {
		t.Errorf("received %d, want 2", n)
	}
}

// evictAccessTokens removes the access tokens from a cache file, as if
// they had expired.
func evictAccessTokens(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["AccessToken"] = json.RawMessage("{}")
	b, _ = json.Marshal(doc)
	os.WriteFile(file, b, 0o600)
}

// Acceptance 3: 50 concurrent cold processes, one token request; 50 more,
// none.
func TestFiftyConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("100 processes")
	}
	w := newWorld(t)
	for round, want := range []int{1, 1} {
		var wg sync.WaitGroup
		errs := make(chan string, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if r := w.Run(fmt.Sprintf("Subject: %d-%d\n\nx\n", round, i), "sendmail", "ops@contoso.test"); r.Code != 0 {
					errs <- r.String()
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		if n := w.Entra.TokenRequests(); n != want {
			t.Errorf("round %d: %d token requests in total, want %d", round+1, n, want)
		}
	}
	if n := len(w.Exchange.Received()); n != 100 {
		t.Errorf("%d delivered, want 100", n)
	}
}

// Acceptance 4: a truncated cache file is replaced, not fatal.
func TestTruncatedCache(t *testing.T) {
	w := newWorld(t)
	if r := w.Run("Subject: 1\n\nx\n", "sendmail", "ops@contoso.test"); r.Code != 0 {
		t.Fatal(r)
	}
	file := filepath.Join(w.Dir, "cache", "alerts.json")
	b, _ := os.ReadFile(file)
	os.WriteFile(file, b[:len(b)/2], 0o600)
	r := w.Run("Subject: 2\n\nx\n", "sendmail", "ops@contoso.test")
	if r.Code != 0 || !strings.Contains(r.Stderr, "corrupt") {
		t.Fatalf("%s", r)
	}
	b2, _ := os.ReadFile(file)
	if !json.Valid(b2) {
		t.Error("cache not rewritten")
	}
	if r := w.Run("Subject: 3\n\nx\n", "sendmail", "ops@contoso.test"); r.Code != 0 || w.Entra.TokenRequests() != 2 || r.Stderr != "" {
		t.Errorf("third send: %s, %d requests", r, w.Entra.TokenRequests())
	}
}

// Acceptance 5: msmtp with passwordeval of our token plugin.
func TestMsmtpWithTokenPlugin(t *testing.T) {
	need(t, "msmtp")
	w := newWorld(t)
	rc := filepath.Join(w.Dir, "msmtprc")
	host, port, _ := strings.Cut(w.Exchange.Addr, ":")
	os.WriteFile(rc, []byte(fmt.Sprintf(`defaults
tls on
tls_starttls on
tls_trust_file %s
account exo
host %s
port %s
auth xoauth2
user %s
from %s
passwordeval "%s token --profile alerts"
account default : exo
`, filepath.Join(w.Dir, "ca.pem"), host, port, harness.Mailbox, harness.Mailbox, filepath.Join(w.Bin, "oauth-sendmail"))), 0o600)
	cmd := exec.Command("msmtp", "-C", rc, "jane@fabrikam.test")
	cmd.Env = w.Env()
	cmd.Stdin = strings.NewReader("From: alerts@contoso.test\nSubject: via msmtp\n\nhello\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msmtp: %v\n%s", err, out)
	}
	got := w.Exchange.Received()
	if len(got) != 1 || got[0].User != harness.Mailbox || !strings.Contains(string(got[0].Data), "via msmtp") {
		t.Fatalf("received %+v", got)
	}
	// The other formats.
	r := w.Run("", "oauth-sendmail", "token", "--profile", "alerts", "--format", "json")
	var j struct {
		AccessToken string   `json:"access_token"`
		ExpiresOn   string   `json:"expires_on"`
		Scopes      []string `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &j); err != nil || j.AccessToken == "" || j.ExpiresOn == "" || len(j.Scopes) != 1 {
		t.Errorf("json: %v %s", err, r)
	}
	r = w.Run("", "oauth-sendmail", "token", "--format", "xoauth2")
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Stdout))
	if err != nil || !strings.HasPrefix(string(dec), "user="+harness.Mailbox+"\x01auth=Bearer ") {
		t.Errorf("xoauth2: %v %q", err, dec)
	}
	if n := w.Entra.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for one msmtp send and two token commands, want 1", n)
	}
}

// Acceptance 6: a token with 5 minutes left is refreshed before use; a 535
// on the first AUTH gets one new token and one retry.
func TestTokenMarginAnd535Retry(t *testing.T) {
	w := newWorld(t)
	w.Entra.SetTokenLifetime(5 * time.Minute)
	w.Run("Subject: 1\n\nx\n", "sendmail", "ops@contoso.test")
	w.Run("Subject: 2\n\nx\n", "sendmail", "ops@contoso.test")
	if n := w.Entra.TokenRequests(); n != 2 {
		t.Errorf("a token with 5 minutes left was reused: %d requests for 2 sends", n)
	}
	w.Entra.SetTokenLifetime(time.Hour)
	w.Run("Subject: 3\n\nx\n", "sendmail", "ops@contoso.test") // caches an hour-long token
	before := w.Entra.TokenRequests()
	w.Exchange.Inject(fakeexo.Fault{Stage: "auth", Code: 535, Enhanced: "5.7.3", Text: "Authentication unsuccessful [FAKE]"})
	r := w.Run("Subject: 4\n\nx\n", "sendmail", "-odi", "ops@contoso.test")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	if n := w.Entra.TokenRequests() - before; n != 1 {
		t.Errorf("535 led to %d token requests, want 1", n)
	}
	if n := len(w.Exchange.Received()); n != 4 {
		t.Errorf("delivered %d, want 4", n)
	}
}

func TestSecretExpiryWarning(t *testing.T) {
	w := newWorld(t)
	w.Extra = fmt.Sprintf("client_secret_expires = %s\n", time.Now().Add(10*24*time.Hour).Format("2006-01-02"))
	if err := w.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	r := w.Run("Subject: x\n\nx\n", "sendmail", "ops@contoso.test")
	if r.Code != 0 || !strings.Contains(r.Stderr, "expires on") || !strings.Contains(w.Log(), "expires on") {
		t.Errorf("no warning 10 days before: %s", r)
	}
	w.Extra = "client_secret_expires = 2020-01-01\n"
	w.WriteConfig()
	os.RemoveAll(filepath.Join(w.Dir, "cache")) // no cached token to hide the expiry
	w.Entra.FailNext(1, fakeexo.EntraFault{Status: 401, Error: "invalid_client", Codes: []int{7000222}, Description: "AADSTS7000222: The provided client secret keys for app are expired."})
	r = w.Run("Subject: x\n\nx\n", "sendmail", "-odi", "ops@contoso.test")
	if r.Code != 78 || !strings.Contains(r.Stderr, "expired on 2020-01-01") || !strings.Contains(r.Stderr, "AADSTS7000222") {
		t.Errorf("after the date: %s", r)
	}
}
