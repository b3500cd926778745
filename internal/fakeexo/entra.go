package fakeexo

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Entra is a fake Microsoft Entra ID: the OpenID configuration and token
// endpoints MSAL talks to, over HTTPS with the test CA (MSAL insists on
// https). It issues HS256 JWT access tokens that CheckToken verifies.
type Entra struct {
	URL string // "https://127.0.0.1:PORT/": the authority host

	srv *httptest.Server
	key []byte

	mu       sync.Mutex
	apps     map[string]*entraApp // tenant + "/" + client id
	tenants  map[string]bool
	requests int
	lifetime time.Duration
	faults   []entraFaultEntry
	devices  map[string]*deviceGrant
	refresh  map[string]*deviceGrant // refresh token → grant
	revoked  bool
}

type entraApp struct {
	tenant, clientID, secret string
	cert                     *x509.Certificate
	roles                    []string
	users                    []string // delegated: user principal names
}

type deviceGrant struct {
	app   *entraApp
	upn   string
	polls int
	scope string
}

type entraFaultEntry struct {
	n int
	f EntraFault
}

// EntraFault is an error answer of the token endpoint.
type EntraFault struct {
	Status      int
	Error       string
	Codes       []int
	Description string
}

// Claims of an access token this fake issued.
type Claims struct {
	Aud   string    `json:"aud"`
	Tid   string    `json:"tid"`
	AppID string    `json:"appid"`
	UPN   string    `json:"upn,omitempty"`
	Roles []string  `json:"roles,omitempty"`
	Scp   string    `json:"scp,omitempty"`
	Exp   int64     `json:"exp"`
	Iat   int64     `json:"iat"`
	Nonce string    `json:"jti"`
	Time  time.Time `json:"-"`
}

// NewEntra starts the fake on 127.0.0.1.
func NewEntra(ca *CA) (*Entra, error) {
	e := &Entra{apps: map[string]*entraApp{}, tenants: map[string]bool{}, lifetime: time.Hour,
		devices: map[string]*deviceGrant{}, refresh: map[string]*deviceGrant{}}
	e.key = make([]byte, 32)
	rand.Read(e.key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
	e.srv.Listener.Close()
	e.srv.Listener = ln
	e.srv.TLS = ca.ServerTLS()
	// Probes that connect and hang up (doctor's TCP check) are not errors.
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.StartTLS()
	e.URL = e.srv.URL + "/"
	return e, nil
}

// Close stops the fake.
func (e *Entra) Close() { e.srv.Close() }

// AddSecretApp registers an app that authenticates with secret.
func (e *Entra) AddSecretApp(tenant, clientID, secret string, roles ...string) {
	e.addApp(&entraApp{tenant: tenant, clientID: clientID, secret: secret, roles: roles})
}

// AddCertApp registers an app that authenticates with cert's key.
func (e *Entra) AddCertApp(tenant, clientID string, cert *x509.Certificate, roles ...string) {
	e.addApp(&entraApp{tenant: tenant, clientID: clientID, cert: cert, roles: roles})
}

// AddUser registers a public client app with a user who may sign in with
// the device code flow.
func (e *Entra) AddUser(tenant, clientID, upn string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tenants[tenant] = true
	k := tenant + "/" + clientID
	if a, ok := e.apps[k]; ok {
		a.users = append(a.users, upn)
		return
	}
	e.apps[k] = &entraApp{tenant: tenant, clientID: clientID, users: []string{upn}}
}

func (e *Entra) addApp(a *entraApp) {
	if len(a.roles) == 0 {
		a.roles = []string{"SMTP.SendAsApp"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tenants[a.tenant] = true
	e.apps[a.tenant+"/"+a.clientID] = a
}

// TokenRequests counts POSTs to the token endpoint.
func (e *Entra) TokenRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// SetTokenLifetime sets the lifetime of tokens issued from now on.
func (e *Entra) SetTokenLifetime(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lifetime = d
}

// FailNext makes the next n token requests fail with f (n < 0: until
// ClearFaults).
func (e *Entra) FailNext(n int, f EntraFault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, entraFaultEntry{n: n, f: f})
}

// ClearFaults removes every pending fault.
func (e *Entra) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// RevokeRefreshTokens makes every refresh token invalid (AADSTS70008).
func (e *Entra) RevokeRefreshTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revoked = true
}

func (e *Entra) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	tenant := parts[0]
	rest := strings.Join(parts[1:], "/")
	e.mu.Lock()
	knownTenant := e.tenants[tenant]
	e.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		// The issuer's host is the one the client asked for, as a real
		// authority's is: a client may reach the fake by another name
		// (through a proxy, say).
		base := "https://" + r.Host + "/" + tenant
		writeJSON(w, 200, map[string]any{
			"issuer":                        base + "/v2.0",
			"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
			"token_endpoint":                base + "/oauth2/v2.0/token",
			"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		e.mu.Lock()
		e.requests++
		e.mu.Unlock()
		if !knownTenant {
			e.fail(w, EntraFault{400, "invalid_tenant", []int{90002}, fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tenant)})
			return
		}
		if f, ok := e.nextFault(); ok {
			e.fail(w, f)
			return
		}
		r.ParseForm()
		e.token(w, tenant, r)
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/devicecode":
		r.ParseForm()
		e.deviceCode(w, tenant, r)
	default:
		http.NotFound(w, r)
	}
}

func (e *Entra) nextFault() (EntraFault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.faults) == 0 {
		return EntraFault{}, false
	}
	f := &e.faults[0]
	out := f.f
	if f.n > 0 {
		f.n--
		if f.n == 0 {
			e.faults = e.faults[1:]
		}
	}
	return out, true
}

func (e *Entra) fail(w http.ResponseWriter, f EntraFault) {
	if f.Status == 0 {
		f.Status = 400
	}
	trace := randHex(16)
	corr := randHex(16)
	desc := f.Description
	if desc == "" {
		desc = "AADSTS" + fmt.Sprint(firstOr(f.Codes, 0)) + ": an error."
	}
	writeJSON(w, f.Status, map[string]any{
		"error":             f.Error,
		"error_description": desc + " Trace ID: " + trace + " Correlation ID: " + corr + " Timestamp: " + time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"error_codes":       f.Codes,
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

func firstOr(c []int, d int) int {
	if len(c) > 0 {
		return c[0]
	}
	return d
}

func (e *Entra) app(tenant, clientID string) *entraApp {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.apps[tenant+"/"+clientID]
}

func (e *Entra) token(w http.ResponseWriter, tenant string, r *http.Request) {
	clientID := r.PostForm.Get("client_id")
	a := e.app(tenant, clientID)
	if a == nil {
		e.fail(w, EntraFault{400, "unauthorized_client", []int{700016}, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant)})
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		if err := e.checkClient(a, r); err != nil {
			e.fail(w, *err)
			return
		}
		scope := r.PostForm.Get("scope")
		aud := ""
		for _, s := range strings.Fields(scope) {
			if strings.HasSuffix(s, "/.default") {
				aud = strings.TrimSuffix(s, "/.default")
			}
		}
		if aud == "" {
			e.fail(w, EntraFault{400, "invalid_scope", []int{70011}, "AADSTS70011: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."})
			return
		}
		writeJSON(w, 200, map[string]any{
			"token_type":   "Bearer",
			"expires_in":   int(e.lifetimeNow().Seconds()),
			"access_token": e.issue(Claims{Aud: aud, Tid: tenant, AppID: a.clientID, Roles: a.roles}),
		})
	case "device_code", "urn:ietf:params:oauth:grant-type:device_code":
		e.mu.Lock()
		g := e.devices[r.PostForm.Get("device_code")]
		if g != nil {
			g.polls++
		}
		e.mu.Unlock()
		if g == nil {
			e.fail(w, EntraFault{400, "invalid_grant", []int{70000}, "AADSTS70000: The provided device code is not valid."})
			return
		}
		if g.polls < 2 {
			writeJSON(w, 400, map[string]any{"error": "authorization_pending", "error_description": "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.", "error_codes": []int{70016}})
			return
		}
		e.userTokens(w, g)
	case "refresh_token":
		e.mu.Lock()
		g := e.refresh[r.PostForm.Get("refresh_token")]
		revoked := e.revoked
		e.mu.Unlock()
		if g == nil || revoked {
			e.fail(w, EntraFault{400, "invalid_grant", []int{70008}, "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity."})
			return
		}
		e.userTokens(w, g)
	default:
		e.fail(w, EntraFault{400, "unsupported_grant_type", []int{70003}, "AADSTS70003: The app requested an unsupported grant type."})
	}
}

func (e *Entra) lifetimeNow() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lifetime
}

func (e *Entra) userTokens(w http.ResponseWriter, g *deviceGrant) {
	rt := randHex(24)
	e.mu.Lock()
	e.refresh[rt] = g
	e.mu.Unlock()
	aud, scp := "https://outlook.office.com", ""
	for _, s := range strings.Fields(g.scope) {
		if i := strings.LastIndex(s, "/"); i > 0 && strings.HasPrefix(s, "https://") {
			aud, scp = s[:i], strings.TrimSpace(scp+" "+s[i+1:])
		}
	}
	oid := "00000000-0000-0000-0000-" + fmt.Sprintf("%012x", len(g.upn))
	clientInfo := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"uid":%q,"utid":%q}`, oid, g.app.tenant)))
	idClaims, _ := json.Marshal(map[string]any{
		"aud": g.app.clientID, "iss": strings.TrimSuffix(e.URL, "/") + "/" + g.app.tenant + "/v2.0", "tid": g.app.tenant,
		"oid": oid, "preferred_username": g.upn, "name": g.upn, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	idToken := b64(`{"alg":"none","typ":"JWT"}`) + "." + base64.RawURLEncoding.EncodeToString(idClaims) + "."
	writeJSON(w, 200, map[string]any{
		"token_type":     "Bearer",
		"scope":          g.scope,
		"expires_in":     int(e.lifetimeNow().Seconds()),
		"access_token":   e.issue(Claims{Aud: aud, Tid: g.app.tenant, AppID: g.app.clientID, UPN: g.upn, Scp: scp}),
		"refresh_token":  rt,
		"id_token":       idToken,
		"client_info":    clientInfo,
		"ext_expires_in": 3600,
	})
}

func (e *Entra) deviceCode(w http.ResponseWriter, tenant string, r *http.Request) {
	a := e.app(tenant, r.PostForm.Get("client_id"))
	if a == nil || len(a.users) == 0 {
		e.fail(w, EntraFault{400, "unauthorized_client", []int{700016}, "AADSTS700016: Application was not found in the directory."})
		return
	}
	code := randHex(16)
	user := strings.ToUpper(randHex(4))
	e.mu.Lock()
	// The fake "user" completes the sign-in right away: the first poll
	// is pending, the second gets tokens.
	e.devices[code] = &deviceGrant{app: a, upn: a.users[0], scope: r.PostForm.Get("scope")}
	e.mu.Unlock()
	uri := strings.TrimSuffix(e.URL, "/") + "/devicelogin"
	writeJSON(w, 200, map[string]any{
		"device_code":      code,
		"user_code":        user,
		"verification_uri": uri,
		"expires_in":       900,
		"interval":         1,
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", uri, user),
	})
}

// checkClient verifies the client secret or client assertion.
func (e *Entra) checkClient(a *entraApp, r *http.Request) *EntraFault {
	if a.cert != nil {
		if err := verifyAssertion(r.PostForm.Get("client_assertion"), a); err != nil {
			return &EntraFault{401, "invalid_client", []int{700027}, "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. " + err.Error()}
		}
		return nil
	}
	if a.secret == "" || !hmac.Equal([]byte(r.PostForm.Get("client_secret")), []byte(a.secret)) {
		return &EntraFault{401, "invalid_client", []int{7000215}, fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", a.clientID)}
	}
	return nil
}

func verifyAssertion(jwt string, a *entraApp) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("no client assertion")
	}
	var hdr struct {
		Alg     string   `json:"alg"`
		X5tS256 string   `json:"x5t#S256"`
		X5t     string   `json:"x5t"`
		X5c     []string `json:"x5c"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return errors.New("bad assertion header")
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("bad assertion claims")
	}
	if claims.Iss != a.clientID || claims.Sub != a.clientID || time.Now().Unix() > claims.Exp {
		return errors.New("assertion issuer, subject or expiry wrong")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("bad signature encoding")
	}
	pub, ok := a.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("registered certificate has no RSA key")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		return fmt.Errorf("unsupported alg %q", hdr.Alg)
	}
	if err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// issue signs claims as an HS256 JWT.
func (e *Entra) issue(c Claims) string {
	now := time.Now()
	c.Iat = now.Unix()
	c.Exp = now.Add(e.lifetimeNow()).Unix()
	c.Nonce = randHex(8)
	body, _ := json.Marshal(c)
	head := b64(`{"alg":"HS256","typ":"JWT"}`)
	payload := base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, e.key)
	mac.Write([]byte(head + "." + payload))
	return head + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckToken verifies that token was issued here, unexpired.
func (e *Entra) CheckToken(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("not a JWT")
	}
	mac := hmac.New(sha256.New, e.key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return Claims{}, errors.New("bad signature")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, err
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil {
		return Claims{}, err
	}
	c.Time = time.Unix(c.Exp, 0)
	if time.Now().After(c.Time) {
		return c, errors.New("token expired")
	}
	return c, nil
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
