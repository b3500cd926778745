package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Error is a failed token request, decided on Entra's "error" and
// "error_codes" fields, never on description text.
type Error struct {
	Codes         []int  // AADSTS codes
	Kind          string // "invalid_client", "invalid_grant", ..., or "network"
	Status        int    // HTTP status, 0 without a reply
	Remedy        string
	Temporary     bool // an outage or timeout: retry later
	NeedLogin     bool // the refresh token is gone: run login again
	TraceID       string
	CorrelationID string
	profile       string
	cause         error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("Entra ID refused the token request")
	switch {
	case len(e.Codes) > 0:
		fmt.Fprintf(&b, ": AADSTS%d (%s)", e.Codes[0], e.Kind)
	case e.Kind == "no_account":
		b.WriteString(": nobody has signed in for this profile")
	case e.Kind == "network":
		b.Reset()
		// MSAL wraps the network error in layers of its own wording; the
		// part that says what failed starts at the dial.
		msg := strings.Join(strings.Fields(e.cause.Error()), " ")
		for _, at := range []string{"dial tcp", "proxyconnect", "net/http:"} {
			if i := strings.Index(msg, at); i >= 0 {
				msg = msg[i:]
				break
			}
		}
		fmt.Fprintf(&b, "cannot reach Entra ID: %s", msg)
	case e.Kind != "":
		fmt.Fprintf(&b, ": %s", e.Kind)
	case e.cause != nil:
		b.Reset()
		fmt.Fprintf(&b, "token request failed: %v", firstLine(e.cause.Error()))
	}
	if r := e.remedy(); r != "" {
		b.WriteString(" — " + r)
	}
	if e.TraceID != "" || e.CorrelationID != "" {
		fmt.Fprintf(&b, " [trace ID %s, correlation ID %s]", e.TraceID, e.CorrelationID)
	}
	return b.String()
}

func (e *Error) remedy() string {
	r := e.Remedy
	if e.NeedLogin {
		p := e.profile
		if p == "" {
			p = "NAME"
		}
		login := fmt.Sprintf("run `oauth-sendmail login --profile %s`", p)
		if r == "" {
			return login
		}
		return r + ": " + login
	}
	return r
}

func (e *Error) Unwrap() error { return e.cause }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// remedies are REFERENCE.md §B's table of AADSTS codes.
var remedies = map[int]struct {
	text      string
	temporary bool
	login     bool
}{
	7000215: {text: "wrong client secret: put the secret's Value (shown once when it was created), not its Secret ID, in client_secret_file"},
	7000222: {text: "the client secret has expired: create a new one in Entra ID (App registrations > Certificates & secrets), or better a certificate, and update client_secret_file"},
	700016:  {text: "application not found in the tenant: check client_id and tenant, and that an admin consented to the app in this tenant"},
	90002:   {text: "tenant not found: check tenant (the domain or the Directory (tenant) ID), and cloud for a national cloud"},
	90038:   {text: "the tenant is in another national cloud: set cloud = \"usgov\", \"usgov-dod\" or \"china\""},
	500011:  {text: "the resource was not found in the tenant: check scopes and cloud"},
	65001:   {text: "admin consent is missing: open https://login.microsoftonline.com/<tenant>/adminconsent?client_id=<client_id> as an administrator"},
	70011:   {text: "invalid scope: app-only tokens need <resource>/.default, e.g. https://outlook.office365.com/.default"},
	50076:   {text: "multi-factor authentication is required: use app-only authentication or sign in again with login", login: true},
	50079:   {text: "multi-factor authentication enrolment is required for this user", login: true},
	50126:   {text: "invalid username or password"},
	53003:   {text: "blocked by Conditional Access: ask an administrator to allow this app or location"},
	530035:  {text: "blocked by Security Defaults: use an app registration with SMTP.SendAsApp or ask an administrator"},
	700027:  {text: "the certificate does not match the one registered for the app: upload this certificate's public part in App registrations > Certificates & secrets"},
	700024:  {text: "the client assertion's time is not valid: check the system clock (NTP)"},
	70008:   {text: "the sign-in has expired or was revoked", login: true},
	700082:  {text: "the sign-in has expired after 90 days of inactivity", login: true},
	50173:   {text: "the sign-in was revoked (password change or admin action)", login: true},
	70043:   {text: "the sign-in expired under a Conditional Access sign-in frequency policy", login: true},
	50033:   {text: "Entra ID had a transient problem: retried later", temporary: true},
	90024:   {text: "Entra ID had a transient problem: retried later", temporary: true},
	90006:   {text: "Entra ID had a transient problem: retried later", temporary: true},
}

type entraReply struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

// FromMSAL classifies an error MSAL returned. MSAL keeps the reply body in
// its error text; the JSON in it is Entra's answer.
func FromMSAL(err error) *Error {
	e := &Error{cause: err}
	msg := err.Error()
	if i := strings.Index(msg, "{"); i >= 0 {
		var r entraReply
		if json.NewDecoder(strings.NewReader(msg[i:])).Decode(&r) == nil && (r.Error != "" || len(r.Codes) > 0) {
			e.Kind, e.Codes, e.TraceID, e.CorrelationID = r.Error, r.Codes, r.TraceID, r.CorrelationID
			if j := strings.Index(msg, "reply status code was "); j >= 0 {
				fmt.Sscanf(msg[j+len("reply status code was "):], "%d", &e.Status)
			}
			for _, c := range r.Codes {
				if rem, ok := remedies[c]; ok {
					e.Remedy, e.Temporary, e.NeedLogin = rem.text, rem.temporary, rem.login
					break
				}
			}
			switch {
			case r.Error == "temporarily_unavailable" || e.Status >= 500:
				e.Temporary = true
				if e.Remedy == "" {
					e.Remedy = "Entra ID is unavailable: the message is retried later"
				}
			case r.Error == "invalid_grant" && e.Remedy == "":
				e.NeedLogin = true
			case e.Remedy == "" && r.Description != "":
				e.Remedy = firstLine(strings.SplitN(r.Description, " Trace ID:", 2)[0])
			}
			return e
		}
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "connection refused"),
		strings.Contains(msg, "no such host"), strings.Contains(msg, "i/o timeout"):
		e.Kind, e.Temporary = "network", true
		e.Remedy = "check the network, DNS and HTTPS_PROXY; the message is retried later"
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate"):
		e.Kind = "tls"
		e.Remedy = "the authority's TLS certificate is not trusted: if a TLS-inspecting proxy is in the way, add its CA with ca_file"
	case strings.Contains(msg, "reply status code was 5"):
		e.Kind, e.Temporary = "server error", true
		e.Remedy = "Entra ID is unavailable: the message is retried later"
	}
	return e
}
