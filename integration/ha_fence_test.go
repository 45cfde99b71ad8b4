//go:build integration

package integration

import (
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// The fencing scenarios of ADR 0014, each on both shared stores. The store is cut off or
// taken down through the per-process TCP proxy in front of it (haProxy): a black hole
// (packets dropped, connections held) for a partition, refused connections for a store that
// is down. The broker and the source database stay reachable the whole time.

// TestHAFreeze: the active is frozen (SIGSTOP) for twice the lease time, then continued. The
// standby takes over within the lease time (+ 2 s); the woken process sends nothing after
// it woke (no message of its pid stored after SIGCONT), goes back to standby, and no queue
// sees two writers interleave; nothing is lost or reordered.
func TestHAFreeze(t *testing.T) {
	defer printSummaries(t)
	for _, store := range []string{"etcd", "mysql"} {
		t.Run(store, func(t *testing.T) { haFreeze(t, store) })
	}
}

func haFreeze(t *testing.T, store string) {
	lease := 4 * time.Second
	b := newHABed(t, haOpts{Name: "ha-freeze-" + store, Store: store, Procs: 2, Rows: pick(2000, 10000),
		Rate: pick(1000.0, 5000.0), LeaseTime: lease})
	b.startAll()
	old := b.waitActive(60*time.Second, nil)
	old.waitWritten(1, 60*time.Second)
	b.startWorkload()
	time.Sleep(2 * time.Second)

	stopped := time.Now()
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	next, took := b.waitWriting(old, stopped, lease+30*time.Second)
	if next == nil {
		_ = old.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatalf("%s: no process took over from the frozen one", store)
	}
	t.Logf("%s: process %d frozen; process %d writes after %v", store, old.idx, next.idx, took.Round(time.Millisecond))
	if took > lease+2*time.Second {
		t.Errorf("%s: takeover after a freeze took %v, more than the lease time %v + 2s", store, took, lease)
	}
	time.Sleep(time.Until(stopped.Add(2 * lease)))
	woke := time.Now()
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// It finds the lease lost at its first renewal and runs again as a standby.
	b.waitPhase(old, "standby", lease+15*time.Second)
	time.Sleep(2 * time.Second)
	msgs := b.finishHA(pick[time.Duration](3, 6) * time.Minute)
	n, last := sentAfter(msgs, old.cmd.Process.Pid, woke)
	if n > 0 {
		t.Errorf("%s: the woken process sent %d messages after SIGCONT (last stored %v after it)", store, n, last.Sub(woke))
	}
	t.Logf("%s store: frozen %v (lease %v): takeover %v, %d messages of the woken process after SIGCONT",
		store, woke.Sub(stopped).Round(time.Millisecond), lease, took.Round(time.Millisecond), n)
}

// TestHACutOff: the active is cut off from the store while it still reaches MariaDB and
// RocketMQ. Each process runs in a network namespace of its own with only a loopback
// (integration/netns), and the cut is an nftables rule there that drops every packet of its
// store connections, as a partition does (a proxy black hole where namespaces are
// unavailable: not root, no nft). It stops sending within the
// lease time; the standby takes over within the lease time (+ 2 s); after the partition
// heals the cut-off process is a standby; nothing lost, reordered or interleaved.
func TestHACutOff(t *testing.T) {
	defer printSummaries(t)
	for _, store := range []string{"etcd", "mysql"} {
		t.Run(store, func(t *testing.T) { haCutOff(t, store) })
	}
}

func haCutOff(t *testing.T, store string) {
	lease := 4 * time.Second
	b := newHABed(t, haOpts{Name: "ha-cut-" + store, Store: store, Procs: 2, Rows: pick(2000, 10000),
		Rate: pick(1000.0, 5000.0), LeaseTime: lease, NetNS: true})
	b.startAll()
	old := b.waitActive(60*time.Second, nil)
	old.waitWritten(1, 60*time.Second)
	b.startWorkload()
	time.Sleep(2 * time.Second)

	cut := time.Now()
	old.cutStore()
	next, took := b.waitWriting(old, cut, lease+30*time.Second)
	if next == nil {
		t.Fatalf("%s: no process took over from the cut-off one", store)
	}
	if took > lease+2*time.Second {
		t.Errorf("%s: takeover after a partition took %v, more than the lease time %v + 2s; log of the new active since the cut:\n%s\nlog of the cut-off one:\n%s",
			store, took, lease, next.logSince(cut, 40), old.logSince(cut, 40))
	}
	time.Sleep(2 * time.Second)
	healed := time.Now()
	old.healStore()
	b.waitPhase(old, "standby", lease+15*time.Second)
	time.Sleep(time.Second)
	msgs := b.finishHA(pick[time.Duration](3, 6) * time.Minute)
	_, lastOld := sentAfter(msgs, old.cmd.Process.Pid, time.Time{})
	stoppedAfter := lastOld.Sub(cut)
	if stoppedAfter > lease {
		t.Errorf("%s: the cut-off process sent until %v after the cut, more than the lease time %v", store, stoppedAfter, lease)
	}
	if n, _ := sentAfter(msgs, old.cmd.Process.Pid, healed); n > 0 {
		t.Errorf("%s: the cut-off process sent %d messages after the partition healed", store, n)
	}
	how := "proxy black hole"
	if old.ns != nil {
		how = "nftables drop in network namespace " + old.ns.Name
	}
	t.Logf("%s store: cut off from the store (%s; lease %v): last message %v after the cut, takeover %v",
		store, how, lease, stoppedAfter.Round(time.Millisecond), took.Round(time.Millisecond))
}

// TestHAStoreDown: the store is down for everyone (every proxy refuses connections) for three
// times the lease time. The active goes on sending until its lease would expire, then stops
// (nothing stored from the lease time after the outage began until it ended), and sending
// resumes when the store is back; nothing lost or reordered.
func TestHAStoreDown(t *testing.T) {
	defer printSummaries(t)
	for _, store := range []string{"etcd", "mysql"} {
		t.Run(store, func(t *testing.T) { haStoreDown(t, store) })
	}
}

func haStoreDown(t *testing.T, store string) {
	lease := 4 * time.Second
	b := newHABed(t, haOpts{Name: "ha-down-" + store, Store: store, Procs: 2, Rows: pick(2000, 10000),
		Rate: pick(1000.0, 5000.0), LeaseTime: lease})
	b.startAll()
	b.waitActive(60*time.Second, nil).waitWritten(1, 60*time.Second)
	b.startWorkload()
	time.Sleep(2 * time.Second)

	down := time.Now()
	for _, p := range b.procs {
		p.proxy.Down()
	}
	time.Sleep(3 * lease)
	// every process, the one that stepped down and runs again included, is a standby that
	// says in /status why it waits
	for _, p := range b.procs {
		st, err := p.status()
		switch {
		case err != nil:
			t.Errorf("%s: process %d serves no /status while the store is down: %v", store, p.idx, err)
		case st.Phase != "standby" || st.Lease == nil || st.Lease.Role != "standby" || st.Lease.Error == "":
			t.Errorf("%s: process %d while the store is down: phase %q, lease %+v; want a standby with the store's error", store, p.idx, st.Phase, st.Lease)
		default:
			t.Logf("%s: process %d while the store is down: standby, %q", store, p.idx, st.Lease.Error)
		}
	}
	back := time.Now()
	for _, p := range b.procs {
		p.proxy.Heal()
	}
	b.waitActive(lease+30*time.Second, nil)
	time.Sleep(2 * time.Second)
	msgs := b.finishHA(pick[time.Duration](3, 6) * time.Minute)

	var during, silent, after int
	var lastDuring, firstAfter time.Time
	for _, m := range msgs {
		switch at := m.StoredAt; {
		case at.Before(down):
		case at.Before(down.Add(lease)):
			during++
			if at.After(lastDuring) {
				lastDuring = at
			}
		case !at.After(back):
			silent++
		default:
			after++
			if firstAfter.IsZero() || at.Before(firstAfter) {
				firstAfter = at
			}
		}
	}
	if during == 0 {
		t.Errorf("%s: nothing was sent in the lease time after the store went down (the active must go on until its lease would expire)", store)
	}
	if silent > 0 {
		t.Errorf("%s: %d messages were stored while the store was down, after the lease time", store, silent)
	}
	if after == 0 {
		t.Errorf("%s: nothing was sent after the store came back", store)
	}
	t.Logf("%s store: down %v (lease %v): sent %d messages for %v after it went down, then nothing; resumed %v after it came back",
		store, back.Sub(down).Round(time.Millisecond), lease, during, lastDuring.Sub(down).Round(time.Millisecond),
		firstAfter.Sub(back).Round(time.Millisecond))
}

// waitPhase waits until p's status phase is want.
func (b *haBed) waitPhase(p *haProc, want string, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	ph := ""
	for time.Now().Before(deadline) {
		if ph = p.phase(); ph == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("process %d is %q after %v, want %q; log tail:\n%s", p.idx, ph, d, want, tail(p.logs.String(), 3000))
}

// sentAfter counts the messages of the process with pid stored after since, and returns the
// store time of its last message.
func sentAfter(msgs []harness.Received, pid int, since time.Time) (int, time.Time) {
	n := 0
	var last time.Time
	for _, m := range msgs {
		w, ok := writerPID(m)
		if !ok || w != uint16(pid) {
			continue
		}
		if m.StoredAt.After(last) {
			last = m.StoredAt
		}
		if m.StoredAt.After(since) {
			n++
		}
	}
	return n, last
}
