package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// fileCache is MSAL's cache kept in one file per profile and shared by
// every process that sends as that profile. Reads and writes happen only
// while the caller holds the profile's lock (see lock), so Replace and
// Export do no locking of their own: flock belongs to the open file
// description, and re-locking here would deadlock against our own outer
// lock.
type fileCache struct {
	path string
	perm os.FileMode
	warn func(string)
	// evict, when set, filters what Replace loads: it removes access
	// tokens that must not be served (near expiry, or refused by Exchange).
	evict func(data []byte) []byte
}

func (c *fileCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	data, err := os.ReadFile(c.path)
	if os.IsNotExist(err) || (err == nil && len(data) == 0) {
		return nil
	}
	if err != nil {
		c.warn(fmt.Sprintf("token cache %s unreadable, ignored: %v", c.path, err))
		return nil
	}
	if !json.Valid(data) {
		c.warn(fmt.Sprintf("token cache %s is corrupt; it will be replaced", c.path))
		return nil
	}
	if c.evict != nil {
		data = c.evict(data)
	}
	if err := u.Unmarshal(data); err != nil {
		c.warn(fmt.Sprintf("token cache %s could not be loaded (%v); it will be replaced", c.path, err))
	}
	return nil
}

func (c *fileCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	return writeAtomic(c.path, data, c.perm)
}

// writeAtomic replaces path with data: a reader sees the old file or the
// new one, never half of either.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing the token cache: %v", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing the token cache: %v", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the token cache: %v", err)
	}
	return nil
}

// lock takes the profile's exclusive lock, held around a whole token
// acquisition so that N processes with a cold cache make one request: the
// first fetches and writes, the others then find the token in the file.
// The lock file is never deleted (deleting it would let two processes lock
// two different inodes).
func lock(ctx context.Context, path string, perm os.FileMode) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("cannot open the token cache lock %s: %v", path, err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm() != perm {
		// Created under the caller's umask: other senders of the group
		// must be able to lock it too.
		f.Chmod(perm)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %v", path, err)
		}
	case <-ctx.Done():
		// Closing the file makes the pending flock fail or, if it was
		// granted meanwhile, releases it.
		f.Close()
		<-done
		return nil, ctx.Err()
	}
	return func() { f.Close() }, nil
}

// evictAccessTokens removes from an MSAL cache document the access tokens
// for which drop says true, keeping accounts and refresh tokens.
func evictAccessTokens(data []byte, drop func(secret string, expiresOn int64) bool) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return data
	}
	raw, ok := doc["AccessToken"]
	if !ok {
		return data
	}
	var ats map[string]map[string]any
	if json.Unmarshal(raw, &ats) != nil {
		return data
	}
	changed := false
	for k, at := range ats {
		secret, _ := at["secret"].(string)
		var exp int64
		switch v := at["expires_on"].(type) {
		case string:
			fmt.Sscan(v, &exp)
		case float64:
			exp = int64(v)
		}
		if drop(secret, exp) {
			delete(ats, k)
			changed = true
		}
	}
	if !changed {
		return data
	}
	b, err := json.Marshal(ats)
	if err != nil {
		return data
	}
	doc["AccessToken"] = b
	out, err := json.Marshal(doc)
	if err != nil {
		return data
	}
	return out
}
