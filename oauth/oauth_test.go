package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
)

const (
	tenant   = "contoso.test"
	clientID = "11111111-2222-3333-4444-555555555555"
	secret   = "Xy7~not-the-secret-id.q9"
	appScope = "https://outlook.office365.com/.default"
)

type env struct {
	entra  *fakeexo.Entra
	caFile string
	dir    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ca, err := fakeexo.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e, err := fakeexo.NewEntra(ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	e.AddSecretApp(tenant, clientID, secret)
	return &env{entra: e, caFile: caFile, dir: dir}
}

func (e *env) settings(mod func(*Settings)) Settings {
	s := Settings{
		Authority: e.entra.URL, Tenant: tenant, ClientID: clientID, Method: "client_secret", Secret: secret,
		Scopes: []string{appScope}, CacheFile: filepath.Join(e.dir, "cache", "alerts.json"), CAFile: e.caFile, Profile: "alerts",
	}
	if mod != nil {
		mod(&s)
	}
	return s
}

func source(t *testing.T, s Settings) *Source {
	t.Helper()
	src, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestSecretTokenIsCachedAcrossSources(t *testing.T) {
	e := newEnv(t)
	tok, err := source(t, e.settings(nil)).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.FromCache || e.entra.TokenRequests() != 1 {
		t.Fatalf("first token: FromCache %v, %d requests", tok.FromCache, e.entra.TokenRequests())
	}
	claims, err := e.entra.CheckToken(tok.AccessToken)
	if err != nil || claims.Aud != "https://outlook.office365.com" || claims.AppID != clientID || claims.Roles[0] != "SMTP.SendAsApp" {
		t.Errorf("claims %+v %v", claims, err)
	}
	// A new Source is what a new process has: only the file.
	tok2, err := source(t, e.settings(nil)).Token(context.Background())
	if err != nil || !tok2.FromCache || tok2.AccessToken != tok.AccessToken || e.entra.TokenRequests() != 1 {
		t.Errorf("second token: cache %v same %v requests %d err %v", tok2.FromCache, tok2.AccessToken == tok.AccessToken, e.entra.TokenRequests(), err)
	}
	fi, err := os.Stat(e.settings(nil).CacheFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(e.settings(nil).CacheFile)
	if strings.Contains(string(b), secret) {
		t.Error("the client secret is in the cache file")
	}
}

func TestConcurrentColdSourcesMakeOneRequest(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, err := New(e.settings(nil))
			if err == nil {
				_, err = src.Token(context.Background())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.entra.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestRefreshMarginAndRefresh(t *testing.T) {
	e := newEnv(t)
	e.entra.SetTokenLifetime(9 * time.Minute)
	src := source(t, e.settings(nil))
	for i := 1; i <= 2; i++ {
		if _, err := src.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.entra.TokenRequests(); n != i {
			t.Fatalf("a token with 9 minutes left was served from the cache (%d requests after %d calls)", n, i)
		}
	}
	e.entra.SetTokenLifetime(time.Hour)
	tok, _ := src.Token(context.Background())
	before := e.entra.TokenRequests()
	fresh, err := src.Refresh(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || e.entra.TokenRequests() != before+1 {
		t.Errorf("Refresh did not get a new token")
	}
	again, _ := source(t, e.settings(nil)).Token(context.Background())
	if again.AccessToken != fresh.AccessToken || e.entra.TokenRequests() != before+1 {
		t.Errorf("the refreshed token was not cached for other processes")
	}
}

func TestCorruptCacheIsReplaced(t *testing.T) {
	e := newEnv(t)
	s := e.settings(nil)
	os.MkdirAll(filepath.Dir(s.CacheFile), 0o700)
	os.WriteFile(s.CacheFile, []byte(`{"AccessToken": {"trunc`), 0o600)
	var warnings []string
	s.Warn = func(m string) { warnings = append(warnings, m) }
	if _, err := source(t, s).Token(context.Background()); err != nil {
		t.Fatalf("a corrupt cache must not be fatal: %v", err)
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], "corrupt") {
		t.Errorf("warnings %v", warnings)
	}
	if _, err := source(t, e.settings(nil)).Token(context.Background()); err != nil || e.entra.TokenRequests() != 1 {
		t.Errorf("cache not rewritten: %v, %d requests", err, e.entra.TokenRequests())
	}
}

func TestCacheOfAnotherAppDoesNotServe(t *testing.T) {
	e := newEnv(t)
	e.entra.AddSecretApp(tenant, "other-app", "other-secret")
	if _, err := source(t, e.settings(nil)).Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := e.settings(func(s *Settings) { s.ClientID, s.Secret = "other-app", "other-secret" })
	tok, err := source(t, other).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.FromCache || e.entra.TokenRequests() != 2 {
		t.Error("a token of another app was served from the shared file")
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		settings  func(*Settings)
		fault     *fakeexo.EntraFault
		code      int
		temporary bool
		want      string
	}{
		{"wrong secret", func(s *Settings) { s.Secret = "wrong-value" }, nil, 7000215, false, "Value"},
		{"unknown app", func(s *Settings) { s.ClientID = "nope" }, nil, 700016, false, "client_id"},
		{"unknown tenant", func(s *Settings) { s.Tenant = "nowhere.test" }, nil, 90002, false, "tenant"},
		{"expired secret", nil, &fakeexo.EntraFault{Status: 401, Error: "invalid_client", Codes: []int{7000222}, Description: "AADSTS7000222: The provided client secret keys are expired."}, 7000222, false, "expired"},
		{"consent", nil, &fakeexo.EntraFault{Status: 400, Error: "invalid_grant", Codes: []int{65001}, Description: "AADSTS65001: consent"}, 65001, false, "adminconsent"},
		{"outage", nil, &fakeexo.EntraFault{Status: 503, Error: "temporarily_unavailable", Codes: []int{}, Description: "busy"}, 0, true, "retried later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.settings(tc.settings)
			s.CacheFile = filepath.Join(t.TempDir(), "c.json")
			if tc.fault != nil {
				e.entra.FailNext(1, *tc.fault)
			}
			_, err := source(t, s).Token(ctx)
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %T %v, want *oauth.Error", err, err)
			}
			if tc.code != 0 && (len(oe.Codes) == 0 || oe.Codes[0] != tc.code) {
				t.Errorf("codes %v, want %d", oe.Codes, tc.code)
			}
			if oe.Temporary != tc.temporary {
				t.Errorf("temporary = %v", oe.Temporary)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || strings.Contains(msg, s.Secret) {
				t.Errorf("message %q: want one line with %q and no secret", msg, tc.want)
			}
			if tc.code != 0 && !strings.Contains(msg, "AADSTS") {
				t.Errorf("message does not name the AADSTS code: %q", msg)
			}
		})
	}
	t.Run("network", func(t *testing.T) {
		s := e.settings(func(s *Settings) { s.Authority = "https://127.0.0.1:1/" })
		s.CacheFile = filepath.Join(t.TempDir(), "c.json")
		_, err := source(t, s).Token(ctx)
		var oe *Error
		if !errors.As(err, &oe) || !oe.Temporary {
			t.Errorf("unreachable authority: %v", err)
		}
	})
}

func writeCert(t *testing.T, dir string) (*x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oauth-sendmail test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	path := filepath.Join(dir, "app.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(t, key)})...)
	os.WriteFile(path, pemData, 0o600)
	return cert, path
}

func mustPKCS8(t *testing.T, key *rsa.PrivateKey) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCertificate(t *testing.T) {
	e := newEnv(t)
	cert, path := writeCert(t, t.TempDir())
	e.entra.AddCertApp(tenant, "cert-app", cert)
	s := e.settings(func(s *Settings) {
		s.ClientID, s.Method, s.Secret, s.CertificateFile = "cert-app", "client_certificate", "", path
	})
	tok, err := source(t, s).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := e.entra.CheckToken(tok.AccessToken); err != nil || c.AppID != "cert-app" {
		t.Errorf("claims %+v %v", c, err)
	}
	// Another certificate's key → AADSTS700027.
	_, otherPath := writeCert(t, t.TempDir())
	s.CertificateFile = otherPath
	s.CacheFile = filepath.Join(t.TempDir(), "c.json")
	_, err = source(t, s).Token(context.Background())
	var oe *Error
	if !errors.As(err, &oe) || len(oe.Codes) == 0 || oe.Codes[0] != 700027 {
		t.Errorf("wrong certificate: %v", err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(err.Error(), string(b[:40])) {
		t.Error("certificate material in the error")
	}
}

func TestDeviceCodeLoginSilentAndRevoked(t *testing.T) {
	if testing.Short() {
		t.Skip("device code polling waits for the poll interval")
	}
	e := newEnv(t)
	e.entra.AddUser(tenant, "public-app", "jane@contoso.test")
	s := e.settings(func(s *Settings) {
		s.ClientID, s.Method, s.Secret = "public-app", "device_code", ""
		s.Scopes = []string{"https://outlook.office.com/SMTP.Send"}
	})
	src := source(t, s)
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "oauth-sendmail login --profile alerts") {
		t.Fatalf("token before login: %v", err)
	}
	var shown string
	tok, err := src.Login(context.Background(), func(m string) { shown = m })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "enter the code") {
		t.Errorf("device code message %q", shown)
	}
	if c, err := e.entra.CheckToken(tok.AccessToken); err != nil || c.UPN != "jane@contoso.test" || c.Scp != "SMTP.Send" {
		t.Errorf("delegated claims %+v %v", c, err)
	}
	// A new process: silent, from the cache.
	t2, err := source(t, s).Token(context.Background())
	if err != nil || !t2.FromCache {
		t.Fatalf("silent token: %v %v", t2.FromCache, err)
	}
	// The access token is refused: the refresh token gets a new one.
	n := e.entra.TokenRequests()
	t3, err := source(t, s).Refresh(context.Background(), t2.AccessToken)
	if err != nil || t3.AccessToken == t2.AccessToken || e.entra.TokenRequests() != n+1 {
		t.Fatalf("refresh with the refresh token: %v", err)
	}
	// Revoked: the user must sign in again.
	e.entra.RevokeRefreshTokens()
	_, err = source(t, s).Refresh(context.Background(), t3.AccessToken)
	var oe *Error
	if !errors.As(err, &oe) || !oe.NeedLogin || !strings.Contains(err.Error(), "oauth-sendmail login --profile alerts") {
		t.Errorf("revoked refresh token: %v", err)
	}
	if err := source(t, s).Logout(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.CacheFile); !os.IsNotExist(err) {
		t.Error("logout left the cache file")
	}
}
