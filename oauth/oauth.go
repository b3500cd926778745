// Package oauth owns the access tokens of a profile: MSAL Go as a
// confidential client (client secret or certificate, app-only) or a public
// client (device-code sign-in, delegated), behind a file token cache that
// concurrent processes share safely — one token request for N cold
// processes, none for warm ones — and Entra's errors turned into one-line
// remedies. It knows nothing of SMTP or configuration files.
package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// RefreshMargin: a cached token with less time left is not used. Exchange's
// high-volume endpoint rejects tokens about to expire, and a queue run may
// hold a token for a while.
const RefreshMargin = 10 * time.Minute

// Settings of a token source.
type Settings struct {
	Authority       string // authority host URL ending in "/"
	Tenant          string
	ClientID        string
	Method          string // client_secret | client_certificate | device_code
	Secret          string
	CertificateFile string // PEM certificate, and key unless KeyFile
	KeyFile         string
	KeyPassphrase   string
	SendX5C         bool
	Scopes          []string
	CacheFile       string
	CAFile          string // extra trusted CA for the authority
	Profile         string // for messages ("run `oauth-sendmail login --profile P`")
	Warn            func(string)
}

// Token is an access token.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
	FromCache   bool
}

// Source gives tokens for one profile.
type Source struct {
	s     Settings
	conf  *confidential.Client
	pub   *public.Client
	cache *fileCache
	mu    sync.Mutex
}

// New checks s and builds the MSAL client. It makes no network request.
func New(s Settings) (*Source, error) {
	if s.Warn == nil {
		s.Warn = func(string) {}
	}
	if s.Tenant == "" || s.ClientID == "" {
		return nil, errors.New("tenant and client_id are required")
	}
	if s.CacheFile == "" {
		return nil, errors.New("no token cache file")
	}
	if err := os.MkdirAll(filepath.Dir(s.CacheFile), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the token cache directory %s: %v", filepath.Dir(s.CacheFile), err)
	}
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(filepath.Dir(s.CacheFile)); err == nil && fi.Mode()&os.ModeSetgid != 0 {
		perm = 0o660 // a system install: shared with the service group only
	}
	src := &Source{s: s, cache: &fileCache{path: s.CacheFile, perm: perm, warn: s.Warn}}
	client, err := httpClient(s.CAFile)
	if err != nil {
		return nil, err
	}
	authority := strings.TrimSuffix(s.Authority, "/") + "/" + s.Tenant
	// Instance discovery asks login.microsoftonline.com about the
	// authority: needless for the clouds we know and impossible for a test
	// authority.
	switch s.Method {
	case "", "client_secret", "client_certificate":
		var cred confidential.Credential
		if s.Method == "client_certificate" {
			cred, err = certCredential(s)
		} else {
			if s.Secret == "" {
				return nil, errors.New("the client secret is empty")
			}
			cred, err = confidential.NewCredFromSecret(s.Secret)
		}
		if err != nil {
			return nil, err
		}
		opts := []confidential.Option{confidential.WithCache(src.cache), confidential.WithHTTPClient(client), confidential.WithInstanceDiscovery(false)}
		if s.SendX5C {
			opts = append(opts, confidential.WithX5C())
		}
		c, err := confidential.New(authority, s.ClientID, cred, opts...)
		if err != nil {
			return nil, fmt.Errorf("authority %s: %v", authority, err)
		}
		src.conf = &c
	case "device_code":
		c, err := public.New(s.ClientID, public.WithAuthority(authority), public.WithCache(src.cache),
			public.WithHTTPClient(client), public.WithInstanceDiscovery(false))
		if err != nil {
			return nil, fmt.Errorf("authority %s: %v", authority, err)
		}
		src.pub = &c
	default:
		return nil, fmt.Errorf("unknown auth method %q", s.Method)
	}
	return src, nil
}

func certCredential(s Settings) (confidential.Credential, error) {
	pemData, err := os.ReadFile(s.CertificateFile)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("certificate_file: %v", err)
	}
	if s.KeyFile != "" {
		key, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return confidential.Credential{}, fmt.Errorf("key_file: %v", err)
		}
		pemData = append(append(pemData, '\n'), key...)
	}
	certs, key, err := confidential.CertFromPEM(pemData, s.KeyPassphrase)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("certificate_file %s: %v (it needs the certificate and its private key in PEM, or key_file)", s.CertificateFile, err)
	}
	return confidential.NewCredFromCert(certs, key)
}

// httpClient trusts the system roots plus caFile and honours HTTPS_PROXY.
func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %v", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// Token returns a valid token with at least RefreshMargin left, from the
// cache when it has one.
func (s *Source) Token(ctx context.Context) (Token, error) {
	return s.get(ctx, "")
}

// Refresh returns a new token after Exchange refused stale.
func (s *Source) Refresh(ctx context.Context, stale string) (Token, error) {
	return s.get(ctx, stale)
}

func (s *Source) get(ctx context.Context, stale string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	unlock, err := lock(ctx, s.s.CacheFile+".lock", s.cache.perm)
	if err != nil {
		return Token{}, err
	}
	defer unlock()
	margin := time.Now().Add(RefreshMargin).Unix()
	s.cache.evict = func(data []byte) []byte {
		return evictAccessTokens(data, func(secret string, exp int64) bool {
			return (stale != "" && secret == stale) || exp < margin
		})
	}
	defer func() { s.cache.evict = nil }()
	res, err := s.acquire(ctx)
	if err != nil {
		return Token{}, s.wrap(err)
	}
	return res, nil
}

func (s *Source) acquire(ctx context.Context) (Token, error) {
	if s.conf != nil {
		r, err := s.conf.AcquireTokenByCredential(ctx, s.s.Scopes)
		if err != nil {
			return Token{}, err
		}
		return Token{AccessToken: r.AccessToken, ExpiresOn: r.ExpiresOn, FromCache: r.Metadata.TokenSource == confidential.TokenSourceCache}, nil
	}
	accts, err := s.pub.Accounts(ctx)
	if err != nil {
		return Token{}, err
	}
	if len(accts) == 0 {
		return Token{}, &Error{Kind: "no_account", NeedLogin: true, profile: s.s.Profile}
	}
	r, err := s.pub.AcquireTokenSilent(ctx, s.s.Scopes, public.WithSilentAccount(accts[0]))
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: r.AccessToken, ExpiresOn: r.ExpiresOn, FromCache: r.Metadata.TokenSource == public.TokenSourceCache}, nil
}

// Login runs the device-code flow: show is given Microsoft's message (the
// URL and the code), then Login waits for the user to sign in.
func (s *Source) Login(ctx context.Context, show func(string)) (Token, error) {
	if s.pub == nil {
		return Token{}, errors.New("login is only for auth = \"device_code\" profiles")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dc, err := s.pub.AcquireTokenByDeviceCode(ctx, s.s.Scopes)
	if err != nil {
		return Token{}, s.wrap(err)
	}
	show(dc.Result.Message)
	r, err := dc.AuthenticationResult(ctx)
	if err != nil {
		return Token{}, s.wrap(err)
	}
	return Token{AccessToken: r.AccessToken, ExpiresOn: r.ExpiresOn}, nil
}

// Logout removes the profile's cached accounts and tokens.
func (s *Source) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := lock(ctx, s.s.CacheFile+".lock", s.cache.perm)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(s.s.CacheFile); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// wrap turns an MSAL error into an *Error with a remedy.
func (s *Source) wrap(err error) error {
	var oe *Error
	if errors.As(err, &oe) {
		if oe.profile == "" {
			oe.profile = s.s.Profile
		}
		return oe
	}
	e := FromMSAL(err)
	e.profile = s.s.Profile
	return e
}
