// Command driver measures oauth-sendmail against msmtp, both talking to the
// same fake Exchange Online (STARTTLS + XOAUTH2, same certificate), and
// prints a Markdown table. bench/run.sh builds everything and runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	binDir = flag.String("bin", "", "directory with oauth-sendmail, sendmail and fakeexo")
	work   = flag.String("work", "", "scratch directory")
	runs   = flag.Int("runs", 30, "runs per side for medians")
	flush  = flag.Int("flush", 1000, "messages for the flush comparison")
)

type fake struct {
	dir  string
	cmd  *exec.Cmd
	info map[string]string
}

func readEnv(path string) map[string]string {
	m := map[string]string{}
	b, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func startFake(dir string) *fake {
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command(filepath.Join(*binDir, "fakeexo"), "-dir", dir)
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(dir, "info.env")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &fake{dir: dir, cmd: cmd, info: readEnv(filepath.Join(dir, "info.env"))}
}

// stats waits for the fake's counters to settle and returns them.
func (f *fake) stats() map[string]int {
	time.Sleep(150 * time.Millisecond)
	out := map[string]int{}
	for k, v := range readEnv(filepath.Join(f.dir, "stats.env")) {
		out[k], _ = strconv.Atoi(v)
	}
	return out
}

type result struct {
	wall time.Duration
	cpu  time.Duration
}

func run(env []string, stdin []byte, name string, args ...string) result {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %v: %v\n%s", name, args, err, errb.String())
	}
	wall := time.Since(start)
	return result{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// peakRSS runs name with stdin from file under /usr/bin/time and returns
// its maximum resident set size in KiB.
func peakRSS(env []string, file, name string, args ...string) int64 {
	out := filepath.Join(*work, "rss")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", out, name}, args...)...)
	cmd.Env = env
	in, err := os.Open(file)
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	cmd.Stdin = in
	if b, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("%s: %v\n%s", name, err, b)
	}
	b, _ := os.ReadFile(out)
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func main() {
	flag.Parse()
	log.SetFlags(0)
	f := startFake(filepath.Join(*work, "fake"))
	defer f.cmd.Process.Kill()
	in := f.info

	// Our side: a profile pointing at the fake.
	cfgDir := filepath.Join(*work, "ours")
	os.MkdirAll(cfgDir, 0o700)
	os.WriteFile(filepath.Join(cfgDir, "secret"), []byte(in["SECRET"]), 0o600)
	cfg := filepath.Join(cfgDir, "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`default_profile = "alerts"
log = %q
cache_dir = %q
[queue]
dir = %q
rate_per_minute = 0
[aliases]
root = "admin@contoso.test"
[profile.alerts]
mailbox = %q
tenant = %q
client_id = %q
client_secret_file = %q
authority = %q
smtp = %q
ca_file = %q
`, filepath.Join(cfgDir, "log"), filepath.Join(cfgDir, "cache"), filepath.Join(cfgDir, "spool"), in["MAILBOX"], in["TENANT"], in["CLIENT_ID"],
		filepath.Join(cfgDir, "secret"), in["ENTRA_URL"], in["SMTP_ADDR"], filepath.Join(f.dir, "ca.pem"))), 0o600)
	env := append(os.Environ(), "OAUTH_SENDMAIL_CONFIG="+cfg)
	ours := filepath.Join(*binDir, "sendmail")
	oauthSendmail := filepath.Join(*binDir, "oauth-sendmail")

	// msmtp's side: the same server, a static token read by passwordeval.
	tokenFile := filepath.Join(*work, "token")
	cmd := exec.Command(oauthSendmail, "token")
	cmd.Env = env
	tok, err := cmd.Output()
	if err != nil {
		log.Fatalf("token: %v", err)
	}
	os.WriteFile(tokenFile, tok, 0o600)
	msmtprc := func(name, eval string) string {
		p := filepath.Join(*work, name)
		os.WriteFile(p, []byte(fmt.Sprintf("defaults\ntls on\ntls_starttls on\ntls_trust_file %s\naccount x\nhost %s\nport %s\nauth xoauth2\nuser %s\nfrom %s\npasswordeval \"%s\"\naccount default : x\n",
			filepath.Join(f.dir, "ca.pem"), in["SMTP_HOST"], in["SMTP_PORT"], in["MAILBOX"], in["MAILBOX"], eval)), 0o600)
		return p
	}
	rcStatic := msmtprc("msmtprc-static", "cat "+tokenFile)
	rcPlugin := msmtprc("msmtprc-plugin", oauthSendmail+" token")
	naive := filepath.Join(*work, "naive-token.sh")
	os.WriteFile(naive, []byte(fmt.Sprintf("#!/bin/sh\ncurl -s --cacert %s -d grant_type=client_credentials -d client_id=%s --data-urlencode client_secret@%s -d scope=https://outlook.office365.com/.default %s | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/'\n",
		filepath.Join(f.dir, "ca.pem"), in["CLIENT_ID"], filepath.Join(cfgDir, "secret"), in["TOKEN_URL"])), 0o755)
	rcNaive := msmtprc("msmtprc-naive", naive)
	msg := []byte("From: " + in["MAILBOX"] + "\nTo: jane@fabrikam.test\nSubject: bench\n\nhello\n")

	fmt.Printf("| measure | oauth-sendmail | msmtp | ratio (ours/msmtp) |\n|---|---|---|---|\n")

	// 1. Wall time per message with a warm token, alternating.
	run(env, msg, ours, "-t")
	var a, b []time.Duration
	for i := 0; i < *runs; i++ {
		a = append(a, run(env, msg, ours, "-t").wall)
		b = append(b, run(env, msg, "msmtp", "-C", rcStatic, "-t").wall)
	}
	ma, mb := median(a), median(b)
	fmt.Printf("| wall time per message, warm token (median of %d) | %s | %s | %.2f |\n", *runs, ms(ma), ms(mb), float64(ma)/float64(mb))

	// 2. Token requests for 50 concurrent sends.
	concurrent := func(n int, fn func()) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); fn() }()
		}
		wg.Wait()
	}
	os.RemoveAll(filepath.Join(cfgDir, "cache"))
	s0 := f.stats()["TOKEN_REQUESTS"]
	concurrent(50, func() { run(env, msg, ours, "-t") })
	s1 := f.stats()["TOKEN_REQUESTS"]
	concurrent(50, func() { run(env, msg, ours, "-t") })
	s2 := f.stats()["TOKEN_REQUESTS"]
	fmt.Printf("| token requests, 50 concurrent sends, cold cache | %d | — | |\n", s1-s0)
	fmt.Printf("| token requests, 50 concurrent sends, warm cache | %d | — | |\n", s2-s1)
	os.RemoveAll(filepath.Join(cfgDir, "cache"))
	concurrent(50, func() { run(env, msg, "msmtp", "-C", rcPlugin, "-t") })
	s3 := f.stats()["TOKEN_REQUESTS"]
	concurrent(50, func() { run(env, msg, "msmtp", "-C", rcNaive, "-t") })
	s4 := f.stats()["TOKEN_REQUESTS"]
	fmt.Printf("| token requests, 50 concurrent msmtp with `passwordeval \"oauth-sendmail token\"` (cold) | — | %d | |\n", s3-s2)
	fmt.Printf("| token requests, 50 concurrent msmtp with a naive curl token script | — | %d | |\n", s4-s3)

	// 3. Flushing queued messages vs sequential msmtp runs.
	for i := 0; i < *flush; i++ {
		run(env, msg, ours, "-odq", "-t")
	}
	c0 := f.stats()["CONNECTIONS"]
	start := time.Now()
	run(env, nil, oauthSendmail, "queue", "flush")
	flushTime := time.Since(start)
	c1 := f.stats()["CONNECTIONS"]
	start = time.Now()
	for i := 0; i < *flush; i++ {
		run(env, msg, "msmtp", "-C", rcStatic, "-t")
	}
	msmtpTime := time.Since(start)
	c2 := f.stats()["CONNECTIONS"]
	fmt.Printf("| %d messages: queue flush vs %d msmtp runs, total | %s | %s | %.3f (%.0f× faster) |\n", *flush, *flush, ms(flushTime), ms(msmtpTime), float64(flushTime)/float64(msmtpTime), float64(msmtpTime)/float64(flushTime))
	fmt.Printf("| %d messages: SMTP connections opened | %d | %d | |\n", *flush, c1-c0, c2-c1)

	// 4. Peak RSS for big messages, measured by /usr/bin/time: a child of
	// this (big) process would inherit its high-water mark across exec.
	for _, size := range []int{1 << 20, 30 << 20} {
		file := filepath.Join(*work, fmt.Sprintf("big-%d.eml", size>>20))
		w, _ := os.Create(file)
		fmt.Fprintf(w, "From: %s\nTo: jane@fabrikam.test\nSubject: big\n\n", in["MAILBOX"])
		line := strings.Repeat("0123456789abcdef", 4) + "\n"
		for n := 0; n < size; n += len(line) {
			w.WriteString(line)
		}
		w.Close()
		ra := peakRSS(env, file, ours, "-t")
		rb := peakRSS(env, file, "msmtp", "-C", rcStatic, "-t")
		fmt.Printf("| peak RSS, %d MB message | %.1f MB | %.1f MB | %.2f |\n", size>>20, float64(ra)/1024, float64(rb)/1024, float64(ra)/float64(rb))
	}

	// 5. Start-up cost: CPU time of `sendmail -bv root` vs `msmtp --version`.
	a, b = nil, nil
	for i := 0; i < *runs; i++ {
		a = append(a, run(env, nil, ours, "-bv", "root").cpu)
		b = append(b, run(env, nil, "msmtp", "--version").cpu)
	}
	ma, mb = median(a), median(b)
	fmt.Printf("| process CPU time: `sendmail -bv root` vs `msmtp --version` (median of %d) | %s | %s | %.2f |\n", *runs, ms(ma), ms(mb), float64(ma)/float64(mb))
}
