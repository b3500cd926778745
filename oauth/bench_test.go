package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
)

// The token cache hit path: lock, read the file, find the token, unlock —
// what every warm sendmail process does.
func BenchmarkTokenCacheHit(b *testing.B) {
	ca, _ := fakeexo.NewCA(time.Hour)
	e, err := fakeexo.NewEntra(ca)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	e.AddSecretApp(tenant, clientID, secret)
	dir := b.TempDir()
	caFile := dir + "/ca.pem"
	ca.WriteCertFile(caFile)
	s := Settings{Authority: e.URL, Tenant: tenant, ClientID: clientID, Method: "client_secret", Secret: secret,
		Scopes: []string{appScope}, CacheFile: dir + "/c.json", CAFile: caFile}
	src, err := New(s)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := src.Token(context.Background()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// A new Source each time, as a new process has.
		src, _ := New(s)
		if tok, err := src.Token(context.Background()); err != nil || !tok.FromCache {
			b.Fatal(err)
		}
	}
	if e.TokenRequests() != 1 {
		b.Fatalf("%d token requests", e.TokenRequests())
	}
}
