// Command fakeexo runs the fake Entra ID and fake Exchange Online on
// 127.0.0.1 until it is stopped, for scripts that test installed packages
// and for the benchmarks. In -dir it writes ca.pem, info.env (shell
// variables: ENTRA_URL, SMTP_ADDR, TENANT, CLIENT_ID, SECRET, MAILBOX) and,
// for each accepted message, received/N.eml preceded by X-Fake-Mail-From,
// X-Fake-Rcpt-To and X-Fake-User lines; stats.env holds the counters.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/internal/fakeexo"
)

func main() {
	dir := flag.String("dir", "", "directory for ca.pem, info.env and received/")
	tenant := flag.String("tenant", "contoso.test", "tenant")
	clientID := flag.String("client-id", "3f1c2a9e-5b7d-4e10-9a2b-6c8d0e1f2a3b", "client id")
	secret := flag.String("secret", "fake-secret-value", "client secret")
	mailbox := flag.String("mailbox", "alerts@contoso.test", "mailbox")
	flag.Parse()
	if *dir == "" {
		log.Fatal("fakeexo: -dir is required")
	}
	ca, err := fakeexo.NewCA(24 * time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	entra, err := fakeexo.NewEntra(ca)
	if err != nil {
		log.Fatal(err)
	}
	entra.AddSecretApp(*tenant, *clientID, *secret)
	exo, err := fakeexo.NewExchange(ca, func(user, token string) error {
		_, err := entra.CheckToken(token)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	os.MkdirAll(filepath.Join(*dir, "received"), 0o755)
	if err := ca.WriteCertFile(filepath.Join(*dir, "ca.pem")); err != nil {
		log.Fatal(err)
	}
	os.Chmod(filepath.Join(*dir, "ca.pem"), 0o644)
	info := fmt.Sprintf("ENTRA_URL=%s\nSMTP_ADDR=%s\nSMTP_HOST=%s\nSMTP_PORT=%s\nTENANT=%s\nCLIENT_ID=%s\nSECRET=%s\nMAILBOX=%s\nTOKEN_URL=%s%s/oauth2/v2.0/token\n",
		entra.URL, exo.Addr, strings.Split(exo.Addr, ":")[0], strings.Split(exo.Addr, ":")[1], *tenant, *clientID, *secret, *mailbox, entra.URL, *tenant)
	os.WriteFile(filepath.Join(*dir, "info.env.tmp"), []byte(info), 0o644)
	os.Rename(filepath.Join(*dir, "info.env.tmp"), filepath.Join(*dir, "info.env"))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	written := 0
	tick := time.NewTicker(50 * time.Millisecond)
	for {
		select {
		case <-stop:
			exo.Close()
			entra.Close()
			return
		case <-tick.C:
		}
		got := exo.Received()
		for ; written < len(got); written++ {
			m := got[written]
			hdr := fmt.Sprintf("X-Fake-User: %s\r\nX-Fake-Mail-From: %s\r\nX-Fake-Rcpt-To: %s\r\n", m.User, m.From, strings.Join(m.To, ","))
			f := filepath.Join(*dir, "received", fmt.Sprintf("%06d.eml", written+1))
			os.WriteFile(f+".tmp", append([]byte(hdr), m.Data...), 0o644)
			os.Rename(f+".tmp", f)
		}
		stats := fmt.Sprintf("RECEIVED=%d\nCONNECTIONS=%d\nTOKEN_REQUESTS=%d\n", len(got), exo.Connections(), entra.TokenRequests())
		os.WriteFile(filepath.Join(*dir, "stats.env.tmp"), []byte(stats), 0o644)
		os.Rename(filepath.Join(*dir, "stats.env.tmp"), filepath.Join(*dir, "stats.env"))
	}
}
