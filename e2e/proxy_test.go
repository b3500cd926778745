package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oauth-sendmail/oauth-sendmail/internal/harness"
)

// connectProxy is an HTTP CONNECT proxy on 127.0.0.1 that sends every
// tunnel to target, counting them.
type connectProxy struct {
	addr    string
	tunnels atomic.Int32
	hosts   sync.Map
}

func newConnectProxy(t *testing.T, target string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.tunnels.Add(1)
		p.hosts.Store(r.Host, true)
		up, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// HTTPS_PROXY carries the token requests; NO_PROXY exempts the authority.
func TestTokenEndpointThroughProxy(t *testing.T) {
	w := newWorld(t)
	entraAddr := strings.TrimSuffix(strings.TrimPrefix(w.Entra.URL, "https://"), "/")
	_, port, _ := net.SplitHostPort(entraAddr)
	proxy := newConnectProxy(t, entraAddr)
	proxied := "https://" + harness.ProxyHost + ":" + port + "/"
	cfg, _ := os.ReadFile(w.ConfigFile)
	os.WriteFile(w.ConfigFile, bytes.Replace(cfg, []byte(w.Entra.URL), []byte(proxied), 1), 0o600)

	r := w.RunEnv([]string{"HTTPS_PROXY=http://" + proxy.addr}, "Subject: proxied\n\nx\n", "sendmail", "ops@contoso.test")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	if proxy.tunnels.Load() == 0 {
		t.Fatal("the token request did not go through HTTPS_PROXY")
	}
	if _, ok := proxy.hosts.Load(harness.ProxyHost + ":" + port); !ok {
		t.Error("the tunnel was not for the authority")
	}
	if len(w.Exchange.Received()) != 1 || w.Entra.TokenRequests() != 1 {
		t.Errorf("received %d, %d token requests", len(w.Exchange.Received()), w.Entra.TokenRequests())
	}

	// NO_PROXY: straight to the authority (the name must then resolve: it
	// does not, which proves the proxy was skipped).
	os.RemoveAll(w.Dir + "/cache")
	before := proxy.tunnels.Load()
	r = w.RunEnv([]string{"HTTPS_PROXY=http://" + proxy.addr, "NO_PROXY=" + harness.ProxyHost}, "Subject: direct\n\nx\n", "sendmail", "-odi", "ops@contoso.test")
	if proxy.tunnels.Load() != before {
		t.Error("NO_PROXY was not honoured")
	}
	if r.Code != 75 || !strings.Contains(r.Stderr, harness.ProxyHost) {
		t.Errorf("direct to an unresolvable authority: %s", r)
	}
}
