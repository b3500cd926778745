package sendmail

// The modes other than delivering one message: -bp (mailq), -bv, -bi
// (newaliases) and -q.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/oauth-sendmail/oauth-sendmail/config"
	"github.com/oauth-sendmail/oauth-sendmail/queue"
)

// ListQueue prints the queue the way Postfix's mailq does, plus attempts and
// the held state, then the failed items.
func ListQueue(cfg *config.Config, w io.Writer, now time.Time) error {
	if _, err := os.Stat(cfg.Queue.Dir); os.IsNotExist(err) {
		fmt.Fprintln(w, "Mail queue is empty")
		return nil
	}
	q, err := OpenQueue(cfg)
	if err != nil {
		return err
	}
	items, err := q.List()
	if err != nil {
		return exitf(ExIOErr, "reading the queue %s: %v", cfg.Queue.Dir, err)
	}
	failed, err := q.ListFailed()
	if err != nil {
		return exitf(ExIOErr, "reading the queue %s: %v", cfg.Queue.Dir, err)
	}
	if len(items) == 0 && len(failed) == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return nil
	}
	printItems := func(list []queue.Envelope, failedList bool) int64 {
		var total int64
		for _, e := range list {
			total += e.Size
			mark := " "
			switch {
			case failedList:
				mark = "#"
			case e.Held:
				mark = "!"
			}
			fmt.Fprintf(w, "%-24s %8d %s  %s\n", e.ID+mark, e.Size, e.Created.Local().Format("Mon Jan _2 15:04:05"), e.Sender)
			state := fmt.Sprintf("age %s, %d attempt(s)", age(now.Sub(e.Created)), e.Attempts)
			switch {
			case failedList:
				state += ", failed"
			case e.Held:
				state += ", held until the profile is fixed"
			case e.Attempts > 0:
				state += ", next " + e.NextAttempt.Local().Format("15:04:05")
			}
			fmt.Fprintf(w, "%45s(%s)\n", "", state)
			if reason := firstNonEmpty(e.HeldReason, e.LastError); reason != "" {
				fmt.Fprintf(w, "%45s(%s)\n", "", oneLine(reason))
			}
			for _, r := range e.Recipients {
				fmt.Fprintf(w, "%45s%s\n", "", r)
			}
			fmt.Fprintln(w)
		}
		return total
	}
	fmt.Fprintf(w, "%-24s %8s %-19s  %s\n", "-Queue ID-", "--Size--", "----Arrival Time---", "-Sender/Recipient-------")
	total := printItems(items, false)
	total += printItems(failed, true)
	fmt.Fprintf(w, "-- %d Kbytes in %d Request%s", (total+1023)/1024, len(items), plural(len(items)))
	if len(failed) > 0 {
		fmt.Fprintf(w, ", %d failed (marked #; `oauth-sendmail queue retry --failed` to send again)", len(failed))
	}
	fmt.Fprintln(w, ".")
	return nil
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// verify is -bv: say, for each recipient, where it would go and through which
// profile, delivering nothing.
func verify(cfg *config.Config, inv *Invocation, w io.Writer) error {
	if len(inv.Recipients) == 0 {
		return exitf(ExUsage, "-bv needs at least one recipient")
	}
	p, perr := cfg.ChooseProfile(nonEmpty(inv.Sender)...)
	var bad error
	for _, arg := range inv.Recipients {
		addrs, err := resolveAll(cfg, []string{arg})
		if err != nil {
			fmt.Fprintf(w, "%s... undeliverable: %v\n", arg, err)
			if bad == nil {
				bad = err
			}
			continue
		}
		if perr != nil {
			fmt.Fprintf(w, "%s... undeliverable: %v\n", arg, perr)
			continue
		}
		fmt.Fprintf(w, "%s... deliverable: profile %s, mailbox %s, relay %s, to %s\n",
			arg, p.Name, p.Mailbox, p.SMTP, strings.Join(addrs, ", "))
	}
	if perr != nil {
		return withCode(ExConfig, perr)
	}
	if bad != nil {
		return &ExitError{Code: ExitCode(bad), Err: errors.New("some recipients are undeliverable")}
	}
	return nil
}

// checkAliases is newaliases / -bi: there is no database to rebuild, so it
// checks that every alias resolves (no loops, no unknown local targets).
func checkAliases(cfg *config.Config, w io.Writer) error {
	names := make([]string, 0, len(cfg.Aliases))
	for name := range cfg.Aliases {
		names = append(names, name)
	}
	sort.Strings(names)
	var problems int
	for _, name := range names {
		if name == "*" {
			continue
		}
		if _, err := cfg.ResolveRecipient(name); err != nil {
			fmt.Fprintf(w, "newaliases: %s: %v\n", name, err)
			problems++
		}
	}
	if problems > 0 {
		return exitf(ExConfig, "%d alias(es) in %s do not resolve", problems, cfg.File)
	}
	fmt.Fprintf(w, "newaliases: %s: %d aliases, all resolve (no database to rebuild: aliases are read from the configuration)\n", cfg.File, len(names))
	return nil
}

// runQueue is -q: like Postfix's sendmail -q, one pass over every queued
// item whether due or not (a flush: an operator who types it wants the mail
// out now); with an interval (-q30m) a pass over the due items every
// interval until interrupted.
func runQueue(ctx context.Context, cfg *config.Config, inv *Invocation, env Env) error {
	if inv.QueueInterval <= 0 {
		_, err := QueueRun(ctx, cfg, env, QueueRunOptions{Verbose: inv.Verbose, Filter: inv.QueueFilter, All: true})
		return err
	}
	t := time.NewTicker(inv.QueueInterval)
	defer t.Stop()
	for {
		if _, err := QueueRun(ctx, cfg, env, QueueRunOptions{Verbose: inv.Verbose, Filter: inv.QueueFilter}); err != nil {
			fmt.Fprintf(env.Stderr, "sendmail: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// QueueRunOptions tunes one queue run.
type QueueRunOptions struct {
	Verbose int
	Filter  string          // -qI<id>, -qR<rcpt>, -qS<sender>: only matching items
	All     bool            // also items not yet due (queue flush)
	IDs     map[string]bool // only these items (nil: all)
	// Progress, when set, hears after each item how many of the run's
	// items are done (an operator's progress bar).
	Progress func(done, total int)
	NoPace   bool // do not pace (benchmarks)
}

// QueueStats counts what one queue run did.
type QueueStats struct {
	Sent, Deferred, Held, Bounced, Busy int
}

// QueueRun makes one pass over the queue: every due item is leased (items
// another runner holds are skipped) and delivered, reusing one connection
// per profile and pacing to the profile's rate.
func QueueRun(ctx context.Context, cfg *config.Config, env Env, o QueueRunOptions) (QueueStats, error) {
	var st QueueStats
	if _, err := os.Stat(cfg.Queue.Dir); os.IsNotExist(err) {
		return st, nil
	}
	q, err := OpenQueue(cfg)
	if err != nil {
		return st, err
	}
	if _, err := q.Cleanup(time.Hour); err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: warning: cleaning %s/tmp: %v\n", cfg.Queue.Dir, err)
	}
	all, err := q.List()
	if err != nil {
		return st, exitf(ExIOErr, "reading the queue %s: %v", cfg.Queue.Dir, err)
	}
	now := env.Now()
	r := newRunner(cfg, q, env, o.Verbose)
	r.pace = !o.NoPace
	defer r.close()
	// A profile whose credential failed in this run: its other items are
	// held without asking Entra again.
	blocked := map[string]error{}
	var todo []queue.Envelope
	for _, e := range all {
		if !o.All && !e.Held && e.NextAttempt.After(now) {
			continue
		}
		if !matchFilter(e, o.Filter) || (o.IDs != nil && !o.IDs[e.ID]) {
			continue
		}
		todo = append(todo, e)
	}
	for i, e := range todo {
		if ctx.Err() != nil {
			break
		}
		if o.Progress != nil && i > 0 {
			o.Progress(i, len(todo))
		}
		if cause, ok := blocked[e.Profile]; ok {
			if !e.Held {
				if it, err := q.Lease(e.ID); err == nil {
					r.hold(it, cause, ExConfig, now)
				}
			}
			st.Held++
			continue
		}
		it, err := q.Lease(e.ID)
		if err != nil {
			st.Busy++
			continue
		}
		out := r.deliver(ctx, it)
		switch out.status {
		case "sent":
			st.Sent++
		case "deferred":
			st.Deferred++
		case "held":
			st.Held++
			blocked[e.Profile] = out.cause
		default:
			st.Bounced++
		}
		if o.Verbose > 0 {
			fmt.Fprintf(env.Stderr, "sendmail: %s: %s\n", e.ID, out.status)
		}
	}
	if o.Progress != nil && len(todo) > 0 {
		o.Progress(len(todo), len(todo))
	}
	// Notices about items given up in this run go out with it.
	for _, id := range r.notices {
		if it, err := q.Lease(id); err == nil {
			r.deliver(ctx, it)
		}
	}
	if o.Verbose > 0 {
		fmt.Fprintf(env.Stderr, "sendmail: queue run: %d sent, %d deferred, %d held, %d failed, %d busy\n",
			st.Sent, st.Deferred, st.Held, st.Bounced, st.Busy)
	}
	return st, nil
}

func matchFilter(e queue.Envelope, filter string) bool {
	if len(filter) < 2 {
		return true
	}
	val := strings.ToLower(filter[1:])
	switch filter[0] {
	case 'I':
		return strings.HasPrefix(strings.ToLower(e.ID), val)
	case 'R':
		for _, r := range e.Recipients {
			if strings.Contains(strings.ToLower(r), val) {
				return true
			}
		}
		return false
	case 'S':
		return strings.Contains(strings.ToLower(e.Sender), val)
	}
	return true
}
