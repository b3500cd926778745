// Package queue owns the spool on disk: accepted messages wait here until
// Exchange has them. An item is a directory holding the message bytes
// (msg) and its envelope (env, JSON); it is written under tmp/, fsynced,
// and renamed into new/ in one step, so a crash at any instant leaves no
// item or a whole one. A runner works on an item only while it holds the
// item's lock (flock on the item directory), so two runners never send the
// same message. Permanent failures move to failed/, kept for retry.
// The package knows nothing of SMTP, OAuth or configuration.
package queue

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Errors of Lease and the commands taking an id.
var (
	ErrLocked   = errors.New("queue item is being worked on by another process")
	ErrNotFound = errors.New("no such queue item")
)

// Envelope is what the queue knows about an item.
type Envelope struct {
	ID          string    `json:"id"`
	Profile     string    `json:"profile"`
	Sender      string    `json:"sender"`
	Recipients  []string  `json:"recipients"`          // still to deliver
	Delivered   []string  `json:"delivered,omitempty"` // accepted already: never sent again
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	Held        bool      `json:"held,omitempty"` // waiting for an operator to fix the profile
	HeldReason  string    `json:"held_reason,omitempty"`
	Size        int64     `json:"size"`
	EightBit    bool      `json:"eight_bit,omitempty"`
	SMTPUTF8    bool      `json:"smtputf8,omitempty"`
	DSNNotify   []string  `json:"dsn_notify,omitempty"`
	DSNRet      string    `json:"dsn_ret,omitempty"`
	EnvID       string    `json:"env_id,omitempty"`
	Notice      bool      `json:"notice,omitempty"` // a failure notice: never noticed about
}

// Queue is a spool directory.
type Queue struct {
	Dir      string
	dirPerm  os.FileMode
	filePerm os.FileMode
	crashAt  string
	wrap     func(io.Writer) io.Writer
}

const (
	tmpDir    = "tmp"
	newDir    = "new"
	failedDir = "failed"
	msgFile   = "msg"
	envFile   = "env"
)

// Open opens (creating when missing) the spool at dir. perm is the mode of
// the directories: 0700 for a user install, 02770 with the service group.
func Open(dir string, perm os.FileMode) (*Queue, error) {
	q := &Queue{Dir: dir, dirPerm: perm, filePerm: 0o600}
	if perm&0o070 != 0 {
		q.filePerm = 0o660
	}
	for _, d := range []string{dir, filepath.Join(dir, tmpDir), filepath.Join(dir, newDir), filepath.Join(dir, failedDir)} {
		_, statErr := os.Stat(d)
		if err := os.MkdirAll(d, perm.Perm()); err != nil {
			if os.IsPermission(err) {
				return nil, fmt.Errorf("cannot create the queue directory %s: permission denied (create it, or set queue.dir to a directory you can write)", d)
			}
			return nil, fmt.Errorf("cannot create the queue directory %s: %v", d, err)
		}
		if os.IsNotExist(statErr) {
			// MkdirAll applies the umask (and drops setgid): the group of
			// a system install must be able to write here.
			os.Chmod(d, perm)
		}
	}
	return q, nil
}

// SetCrashPoint makes the process kill itself (SIGKILL) when it reaches
// step while committing an item: "after-msg-write", "after-msg-fsync",
// "after-env-write", "before-rename", "after-rename". It exists for the
// crash tests, which set it from OAUTH_SENDMAIL_CRASH_AT.
func (q *Queue) SetCrashPoint(step string) { q.crashAt = step }

// SetWriteHook wraps the writer of new message files: tests use it to make
// a write fail.
func (q *Queue) SetWriteHook(wrap func(io.Writer) io.Writer) { q.wrap = wrap }

func (q *Queue) crash(step string) {
	if q.crashAt == step {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

func newID() string {
	var b [3]byte
	rand.Read(b[:])
	// Nanoseconds in hex sort by time for the next few centuries; the
	// random tail keeps ids unique across processes.
	return fmt.Sprintf("%X%06X", time.Now().UnixNano(), uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2]))
}

// Draft is an item being written; nothing of it is visible until Commit.
type Draft struct {
	q    *Queue
	id   string
	dir  string
	f    *os.File
	w    *bufio.Writer
	out  io.Writer
	n    int64
	err  error
	done bool
}

// Create starts a new item.
func (q *Queue) Create() (*Draft, error) {
	id := newID()
	dir := filepath.Join(q.Dir, tmpDir, id)
	if err := os.Mkdir(dir, q.dirPerm.Perm()); err != nil {
		return nil, err
	}
	// Exact modes whatever the caller's umask: a runner of another user in
	// the same group removes and rewrites what this process creates.
	os.Chmod(dir, q.dirPerm.Perm())
	f, err := os.OpenFile(filepath.Join(dir, msgFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, q.filePerm)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	f.Chmod(q.filePerm)
	d := &Draft{q: q, id: id, dir: dir, f: f}
	d.w = bufio.NewWriterSize(f, 64*1024)
	d.out = d.w
	if q.wrap != nil {
		d.out = q.wrap(d.w)
	}
	return d, nil
}

// Write appends message bytes.
func (d *Draft) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.out.Write(p)
	d.n += int64(n)
	if err != nil {
		d.err = err
	}
	return n, err
}

// Commit makes the item durable and visible in new/ and returns its id.
func (d *Draft) Commit(env Envelope) (string, error) {
	if d.done {
		return "", errors.New("queue: draft already committed or aborted")
	}
	fail := func(err error) (string, error) {
		d.Abort()
		return "", err
	}
	if d.err != nil {
		return fail(d.err)
	}
	if err := d.w.Flush(); err != nil {
		return fail(err)
	}
	d.q.crash("after-msg-write")
	if err := d.f.Sync(); err != nil {
		return fail(err)
	}
	d.q.crash("after-msg-fsync")
	if err := d.f.Close(); err != nil {
		return fail(err)
	}
	env.ID = d.id
	env.Size = d.n
	if env.Created.IsZero() {
		env.Created = time.Now()
	}
	if err := writeFileSync(filepath.Join(d.dir, envFile), env, d.q.filePerm); err != nil {
		return fail(err)
	}
	d.q.crash("after-env-write")
	if err := syncDir(d.dir); err != nil {
		return fail(err)
	}
	d.q.crash("before-rename")
	if err := os.Rename(d.dir, filepath.Join(d.q.Dir, newDir, d.id)); err != nil {
		return fail(err)
	}
	d.done = true
	d.q.crash("after-rename")
	if err := syncDir(filepath.Join(d.q.Dir, newDir)); err != nil {
		// The rename happened; only its durability is in doubt. Report
		// it: the caller must not claim the message is safe.
		return "", err
	}
	syncDir(filepath.Join(d.q.Dir, tmpDir))
	return d.id, nil
}

// Abort discards the draft.
func (d *Draft) Abort() error {
	if d.done {
		return nil
	}
	d.done = true
	d.f.Close()
	return os.RemoveAll(d.dir)
}

func writeFileSync(path string, env Envelope, perm os.FileMode) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	f.Chmod(perm)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// DecodeEnvelope reads an envelope file's content.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("queue envelope: %v", err)
	}
	if e.ID == "" || strings.ContainsAny(e.ID, "/\\.\x00") {
		return Envelope{}, fmt.Errorf("queue envelope: bad id %q", e.ID)
	}
	return e, nil
}

func readEnv(dir string) (Envelope, error) {
	b, err := os.ReadFile(filepath.Join(dir, envFile))
	if err != nil {
		return Envelope{}, err
	}
	return DecodeEnvelope(b)
}

func (q *Queue) list(sub string) ([]Envelope, error) {
	ents, err := os.ReadDir(filepath.Join(q.Dir, sub))
	if err != nil {
		return nil, err
	}
	var out []Envelope
	for _, e := range ents {
		env, err := readEnv(filepath.Join(q.Dir, sub, e.Name()))
		if err != nil {
			continue // removed meanwhile by a runner
		}
		out = append(out, env)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// List returns the items waiting in new/, oldest first.
func (q *Queue) List() ([]Envelope, error) { return q.list(newDir) }

// ListFailed returns the items in failed/, oldest first.
func (q *Queue) ListFailed() ([]Envelope, error) { return q.list(failedDir) }

// Due returns the items to try now: not held, next attempt reached.
func (q *Queue) Due(now time.Time) ([]Envelope, error) {
	all, err := q.List()
	if err != nil {
		return nil, err
	}
	var out []Envelope
	for _, e := range all {
		if !e.Held && !e.NextAttempt.After(now) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Item is a leased queue item: this process holds its lock.
type Item struct {
	Env  Envelope
	q    *Queue
	dir  string
	lock *os.File
}

func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/\\\x00") && id != "." && id != ".."
}

// Lease locks item id in new/ for this process.
func (q *Queue) Lease(id string) (*Item, error) {
	return q.lease(newDir, id)
}

func (q *Queue) lease(sub, id string) (*Item, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	dir := filepath.Join(q.Dir, sub, id)
	f, err := os.Open(dir)
	if err != nil {
		return nil, ErrNotFound
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	// Another runner may have finished it between our open and our lock.
	env, err := readEnv(dir)
	if err != nil {
		f.Close()
		return nil, ErrNotFound
	}
	return &Item{Env: env, q: q, dir: dir, lock: f}, nil
}

// Open returns the message bytes.
func (it *Item) Open() (*os.File, error) { return os.Open(filepath.Join(it.dir, msgFile)) }

// Update replaces the envelope atomically.
func (it *Item) Update(env Envelope) error {
	env.ID = it.Env.ID
	tmp := filepath.Join(it.dir, envFile+".tmp")
	if err := writeFileSync(tmp, env, it.q.filePerm); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(it.dir, envFile)); err != nil {
		return err
	}
	it.Env = env
	return syncDir(it.dir)
}

// Done removes a delivered item and releases it.
func (it *Item) Done() error {
	defer it.Release()
	// Rename out of new/ first so that no reader sees a half-removed item.
	gone := filepath.Join(it.q.Dir, tmpDir, "done-"+it.Env.ID)
	if err := os.Rename(it.dir, gone); err != nil {
		return err
	}
	syncDir(filepath.Dir(it.dir))
	return os.RemoveAll(gone)
}

// Fail moves the item to failed/ with the reason and releases it.
func (it *Item) Fail(reason string) error {
	defer it.Release()
	env := it.Env
	env.LastError = reason
	env.Held, env.HeldReason = false, ""
	if err := it.Update(env); err != nil {
		return err
	}
	dst := filepath.Join(it.q.Dir, failedDir, it.Env.ID)
	if err := os.Rename(it.dir, dst); err != nil {
		return err
	}
	syncDir(filepath.Dir(it.dir))
	syncDir(filepath.Dir(dst))
	it.dir = dst
	return nil
}

// Release unlocks the item without changing it.
func (it *Item) Release() error {
	if it.lock == nil {
		return nil
	}
	err := it.lock.Close()
	it.lock = nil
	return err
}

// Retry sends item id again at the next run: from failed/ back to new/, or,
// for a waiting or held item, now; attempts start over.
func (q *Queue) Retry(id string) error {
	if it, err := q.lease(failedDir, id); err == nil {
		defer it.Release()
		env := it.Env
		env.Attempts, env.NextAttempt, env.Held, env.HeldReason = 0, time.Time{}, false, ""
		if err := it.Update(env); err != nil {
			return err
		}
		if err := os.Rename(it.dir, filepath.Join(q.Dir, newDir, id)); err != nil {
			return err
		}
		syncDir(filepath.Join(q.Dir, failedDir))
		return syncDir(filepath.Join(q.Dir, newDir))
	} else if err == ErrLocked {
		return err
	}
	it, err := q.Lease(id)
	if err != nil {
		return err
	}
	defer it.Release()
	env := it.Env
	env.Attempts, env.NextAttempt, env.Held, env.HeldReason = 0, time.Time{}, false, ""
	return it.Update(env)
}

// RetryFailed moves every failed item back to new/.
func (q *Queue) RetryFailed() (int, error) {
	failed, err := q.ListFailed()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range failed {
		if err := q.Retry(e.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Drop deletes item id, waiting or failed.
func (q *Queue) Drop(id string) error {
	it, err := q.Lease(id)
	if err == ErrNotFound {
		it, err = q.lease(failedDir, id)
	}
	if err != nil {
		return err
	}
	return it.Done()
}

// Show returns item id's envelope and the message header (at most 64 KiB).
func (q *Queue) Show(id string) (Envelope, []byte, error) {
	if !validID(id) {
		return Envelope{}, nil, ErrNotFound
	}
	for _, sub := range []string{newDir, failedDir} {
		dir := filepath.Join(q.Dir, sub, id)
		env, err := readEnv(dir)
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join(dir, msgFile))
		if err != nil {
			return env, nil, nil
		}
		defer f.Close()
		var hdr []byte
		br := bufio.NewReader(io.LimitReader(f, 64<<10))
		for {
			line, err := br.ReadBytes('\n')
			if len(strings.TrimSpace(string(line))) == 0 {
				break
			}
			hdr = append(hdr, line...)
			if err != nil {
				break
			}
		}
		return env, hdr, nil
	}
	return Envelope{}, nil, ErrNotFound
}

// Cleanup removes tmp/ leftovers of writers that died more than olderThan
// ago.
func (q *Queue) Cleanup(olderThan time.Duration) (int, error) {
	ents, err := os.ReadDir(filepath.Join(q.Dir, tmpDir))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < olderThan {
			continue
		}
		if os.RemoveAll(filepath.Join(q.Dir, tmpDir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// NextAttempt is when to try again after attempts failed attempts: the
// attempts-th interval of schedule, then its last one over and over.
func NextAttempt(schedule []time.Duration, attempts int, now time.Time) time.Time {
	if len(schedule) == 0 {
		schedule = []time.Duration{5 * time.Minute}
	}
	i := attempts - 1
	if i < 0 {
		i = 0
	}
	if i >= len(schedule) {
		i = len(schedule) - 1
	}
	return now.Add(schedule[i])
}
