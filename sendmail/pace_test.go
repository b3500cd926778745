package sendmail

import (
	"context"
	"testing"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/config"
)

// A queue run keeps under the per-mailbox rate instead of collecting
// Exchange's 4.3.2 replies: with 2 messages a minute, the third waits for
// the first to be a minute old.
func TestPacing(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var slept []time.Duration
	r := &runner{
		cfg:  &config.Config{Queue: config.Queue{RatePerMinute: 2}},
		env:  Env{Now: func() time.Time { return now }},
		sent: map[string][]time.Time{},
		pace: true,
		sleep: func(_ context.Context, d time.Duration) {
			slept = append(slept, d)
			now = now.Add(d)
		},
	}
	p := &config.Profile{Name: "alerts"}
	for i := 0; i < 5; i++ {
		r.waitForPace(context.Background(), p)
		r.sent[p.Name] = append(r.sent[p.Name], now)
		now = now.Add(10 * time.Second)
	}
	// Sends at 0s, 10s; the third waits until 60s, the fourth until 70s...
	want := []time.Duration{40 * time.Second, 0, 40 * time.Second}
	if len(slept) != 2 || slept[0] != want[0] || slept[1] != want[2] {
		t.Errorf("slept %v, want two waits of 40s", slept)
	}
	// A profile's own rate wins; 0 everywhere means no pacing.
	slept = nil
	r.cfg.Queue.RatePerMinute = 0
	r.sent = map[string][]time.Time{}
	for i := 0; i < 10; i++ {
		r.waitForPace(context.Background(), p)
		r.sent[p.Name] = append(r.sent[p.Name], now)
	}
	if len(slept) != 0 {
		t.Errorf("paced with no limit: %v", slept)
	}
}
