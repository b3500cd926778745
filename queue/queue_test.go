package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func open(t *testing.T) *Queue {
	t.Helper()
	q, err := Open(filepath.Join(t.TempDir(), "spool"), 0o700)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func put(t *testing.T, q *Queue, body string, env Envelope) string {
	t.Helper()
	d, err := q.Create()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(d, body)
	id, err := d.Commit(env)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRoundTrip(t *testing.T) {
	q := open(t)
	id := put(t, q, "Subject: x\r\n\r\nbody\r\n", Envelope{Profile: "alerts", Sender: "a@x.test", Recipients: []string{"b@y.test"}, DSNNotify: []string{"FAILURE"}})
	list, err := q.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %v", list, err)
	}
	e := list[0]
	if e.ID != id || e.Size != 20 || e.Profile != "alerts" || e.Recipients[0] != "b@y.test" || e.Created.IsZero() || e.DSNNotify[0] != "FAILURE" {
		t.Errorf("envelope %+v", e)
	}
	fi, _ := os.Stat(filepath.Join(q.Dir, "new", id, "msg"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("msg mode %v", fi.Mode().Perm())
	}
	it, err := q.Lease(id)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := it.Open()
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("msg %q", b)
	}
	if err := it.Done(); err != nil {
		t.Fatal(err)
	}
	if list, _ := q.List(); len(list) != 0 {
		t.Errorf("item still listed after Done")
	}
	if ents, _ := os.ReadDir(filepath.Join(q.Dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %v", ents)
	}
}

func TestLeaseExcludesAndUpdateFailRetry(t *testing.T) {
	q := open(t)
	id := put(t, q, "m", Envelope{Recipients: []string{"a@x"}})
	it, err := q.Lease(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Lease(id); !errors.Is(err, ErrLocked) {
		t.Errorf("second lease: %v, want ErrLocked", err)
	}
	env := it.Env
	env.Attempts = 2
	env.NextAttempt = time.Now().Add(time.Hour)
	env.Delivered = []string{"z@x"}
	if err := it.Update(env); err != nil {
		t.Fatal(err)
	}
	it.Release()
	if due, _ := q.Due(time.Now()); len(due) != 0 {
		t.Errorf("item due before its next attempt")
	}
	if due, _ := q.Due(time.Now().Add(2 * time.Hour)); len(due) != 1 || due[0].Attempts != 2 || due[0].Delivered[0] != "z@x" {
		t.Errorf("due later: %+v", due)
	}
	it, _ = q.Lease(id)
	if err := it.Fail("554 5.2.252 SendAsDenied"); err != nil {
		t.Fatal(err)
	}
	failed, _ := q.ListFailed()
	if len(failed) != 1 || failed[0].LastError != "554 5.2.252 SendAsDenied" {
		t.Fatalf("failed: %+v", failed)
	}
	if list, _ := q.List(); len(list) != 0 {
		t.Error("failed item still in new/")
	}
	if n, err := q.RetryFailed(); n != 1 || err != nil {
		t.Fatalf("RetryFailed %d %v", n, err)
	}
	due, _ := q.Due(time.Now())
	if len(due) != 1 || due[0].Attempts != 0 {
		t.Errorf("after retry: %+v", due)
	}
	env2, hdr, err := q.Show(id)
	if err != nil || env2.ID != id || string(hdr) != "m" {
		t.Errorf("Show: %+v %q %v", env2, hdr, err)
	}
	if err := q.Drop(id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Show(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Drop: %v", err)
	}
	if _, err := q.Lease("../../etc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("path in id: %v", err)
	}
}

func TestHeldSkippedUntilRetry(t *testing.T) {
	q := open(t)
	id := put(t, q, "m", Envelope{})
	it, _ := q.Lease(id)
	env := it.Env
	env.Held, env.HeldReason = true, "AADSTS7000215"
	it.Update(env)
	it.Release()
	if due, _ := q.Due(time.Now().Add(24 * time.Hour)); len(due) != 0 {
		t.Error("held item is due")
	}
	if err := q.Retry(id); err != nil {
		t.Fatal(err)
	}
	if due, _ := q.Due(time.Now()); len(due) != 1 || due[0].Held {
		t.Errorf("after Retry: %+v", due)
	}
}

func TestNextAttempt(t *testing.T) {
	now := time.Unix(0, 0)
	s := []time.Duration{time.Minute, 5 * time.Minute, time.Hour}
	for attempts, want := range []time.Duration{time.Minute, time.Minute, 5 * time.Minute, time.Hour, time.Hour} {
		if got := NextAttempt(s, attempts, now).Sub(now); got != want {
			t.Errorf("attempts %d: %v, want %v", attempts, got, want)
		}
	}
}

func TestFailedWriteLeavesNothing(t *testing.T) {
	q := open(t)
	q.SetWriteHook(func(w io.Writer) io.Writer { return failAfter{w: w, n: 10} })
	d, _ := q.Create()
	_, err := io.WriteString(d, strings.Repeat("x", 100))
	if err == nil {
		t.Fatal("write did not fail")
	}
	if _, err := d.Commit(Envelope{}); err == nil {
		t.Fatal("Commit after a failed write succeeded")
	}
	if list, _ := q.List(); len(list) != 0 {
		t.Error("half-written item in new/")
	}
	if ents, _ := os.ReadDir(filepath.Join(q.Dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp leftovers: %v", ents)
	}
}

type failAfter struct {
	w io.Writer
	n int
}

func (f failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	return f.w.Write(p)
}

func TestConcurrentLeasesInProcess(t *testing.T) {
	q := open(t)
	id := put(t, q, "m", Envelope{})
	var wins int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q2, _ := Open(q.Dir, 0o700)
			if it, err := q2.Lease(id); err == nil {
				atomic.AddInt32(&wins, 1)
				time.Sleep(50 * time.Millisecond)
				it.Done()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d goroutines got the item, want 1", wins)
	}
}

// The helper process: QUEUE_HELPER=runner drains the queue, appending each
// id it delivered to QUEUE_LOG; QUEUE_HELPER=crash commits one item with
// a crash point.
func TestMain(m *testing.M) {
	switch os.Getenv("QUEUE_HELPER") {
	case "runner":
		q, err := Open(os.Getenv("QUEUE_DIR"), 0o700)
		if err != nil {
			os.Exit(2)
		}
		log, _ := os.OpenFile(os.Getenv("QUEUE_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		due, _ := q.Due(time.Now())
		for _, e := range due {
			it, err := q.Lease(e.ID)
			if err != nil {
				continue
			}
			fmt.Fprintf(log, "%s\n", e.ID)
			it.Done()
		}
		log.Close()
		os.Exit(0)
	case "crash":
		q, _ := Open(os.Getenv("QUEUE_DIR"), 0o700)
		q.SetCrashPoint(os.Getenv("QUEUE_STEP"))
		d, _ := q.Create()
		io.WriteString(d, crashBody)
		d.Commit(Envelope{Recipients: []string{"a@x"}})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashBody = "Subject: crash\r\n\r\nthe whole body\r\n"

func TestTwoProcessesDeliverEachItemOnce(t *testing.T) {
	q := open(t)
	for i := 0; i < 100; i++ {
		put(t, q, "m"+strconv.Itoa(i), Envelope{})
	}
	logFile := filepath.Join(t.TempDir(), "log")
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "QUEUE_HELPER=runner", "QUEUE_DIR="+q.Dir, "QUEUE_LOG="+logFile)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(logFile)
	seen := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		seen[id]++
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct items delivered, want 100", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("item %s delivered %d times", id, n)
		}
	}
}

func TestCrashAtAnyStepLeavesNoneOrWhole(t *testing.T) {
	for _, step := range []string{"after-msg-write", "after-msg-fsync", "after-env-write", "before-rename", "after-rename"} {
		t.Run(step, func(t *testing.T) {
			q := open(t)
			c := exec.Command(os.Args[0], "-test.run=^$")
			c.Env = append(os.Environ(), "QUEUE_HELPER=crash", "QUEUE_DIR="+q.Dir, "QUEUE_STEP="+step)
			err := c.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != -1 {
				t.Fatalf("helper did not die by a signal: %v", err)
			}
			list, err := q.List()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case step == "after-rename":
				if len(list) != 1 {
					t.Fatalf("after the rename the item must be there, got %d", len(list))
				}
			case len(list) != 0:
				t.Fatalf("before the rename no item may be visible, got %d", len(list))
			}
			for _, e := range list {
				it, err := q.Lease(e.ID)
				if err != nil {
					t.Fatal(err)
				}
				f, _ := it.Open()
				b, _ := io.ReadAll(f)
				f.Close()
				if !bytes.Equal(b, []byte(crashBody)) || e.Size != int64(len(crashBody)) {
					t.Errorf("item not whole: %q size %d", b, e.Size)
				}
				it.Release()
			}
			if n, _ := q.Cleanup(0); step != "after-rename" && n != 1 {
				t.Errorf("Cleanup removed %d tmp leftovers, want 1", n)
			}
		})
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"id":"ABC","profile":"p","sender":"a@b","recipients":["c@d"],"created":"2026-11-23T00:00:00Z","attempts":1,"next_attempt":"2026-11-23T00:00:00Z","size":3}`))
	f.Add([]byte(`{"id":"../x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err == nil && (e.ID == "" || strings.Contains(e.ID, "/")) {
			t.Fatalf("accepted bad id %q", e.ID)
		}
	})
}
