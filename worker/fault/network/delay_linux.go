package network

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"

	"github.com/murphy-chaos/murphy/worker/fault/network/nfqueue"
)

// Bounds on what a stalled delay line can do. The kernel holds at most queueMaxLen
// packets for the queue and accepts the rest at once (fail open), and the queue's rule
// only matches while the lease element the delay line renews every leaseRefresh is
// present, so a frozen worker stops receiving new packets within leaseTTL. Packets
// already held stay held until the worker resumes (they leave late) or dies (the kernel
// drops them when the socket goes; their senders retransmit past the lapsed rule).
// queueMaxLen caps the delayed traffic at queueMaxLen/delay packets per second (8192 at
// 100ms is 80k pps); beyond it packets pass undelayed rather than being dropped.
const (
	queueMaxLen  = 8192
	leaseTTL     = time.Second
	leaseRefresh = 200 * time.Millisecond
)

// delayer is the userspace delay line of one network.delay fault on a kernel without
// netem: the fault's nftables rule queues matching packets to an NFQUEUE and the delayer
// accepts each one once its delay has passed. The kernel keeps the packets; the worker
// only holds their ids and due times.
type delayer struct {
	q             *nfqueue.Conn
	num           uint16
	delay, jitter time.Duration

	mu          sync.Mutex
	pending     dueHeap
	wake        chan struct{}
	stop        chan struct{}
	closed      atomic.Bool
	wg          sync.WaitGroup // receive
	releaseDone sync.WaitGroup // release
	// released counts verdicts sent, for tests and describe.
	released atomic.Uint64

	lease     *nftables.Conn // lasting socket in the fault's namespace; nil until startLease
	leaseDone sync.WaitGroup
}

// startDelayer binds the first free queue number from first on (numbers stay in
// [0x8000, 0xffff], clear of the small ones people use by hand).
func startDelayer(nsFd int, first uint16, delay, jitter time.Duration) (*delayer, error) {
	var q *nfqueue.Conn
	var num uint16
	var err error
	for i := range uint16(256) {
		num = 0x8000 | (first+i)&0x7fff
		q, err = nfqueue.Open(nfqueue.Config{Num: num, NetNS: nsFd, MaxLen: queueMaxLen})
		if !errors.Is(err, nfqueue.ErrBusy) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	d := &delayer{q: q, num: num, delay: delay, jitter: jitter,
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	d.wg.Add(1)
	d.releaseDone.Add(1)
	go d.receive()
	go d.release()
	return d, nil
}

// startLease keeps renewing the lease element of table id's gate until close. The socket
// is opened now, in the fault's namespace, so renewing needs no namespace handle later.
// The renewals run in the worker process, so anything that stops the worker (SIGSTOP, a
// cgroup freeze, death) stops them and the kernel closes the gate within leaseTTL.
func (d *delayer) startLease(nsFd int, id string) error {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if nsFd > 0 {
		opts = append(opts, nftables.WithNetNSFd(nsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	d.lease = c
	d.leaseDone.Add(1)
	go func() {
		defer d.leaseDone.Done()
		t := time.NewTicker(leaseRefresh)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-t.C:
				// An error (the table is being deleted) changes nothing: the lease then
				// lapses and the gate closes, which is the safe side.
				_ = refreshLease(c, id, leaseTTL)
			}
		}
	}()
	return nil
}

func (d *delayer) due(now time.Time) time.Time {
	dl := d.delay
	if d.jitter > 0 {
		dl += time.Duration(rand.Int64N(int64(2*d.jitter)+1)) - d.jitter
	}
	return now.Add(max(dl, 0))
}

func (d *delayer) receive() {
	defer d.wg.Done()
	for {
		pkts, err := d.q.Receive()
		if err != nil && d.closed.Load() {
			return
		}
		if err != nil {
			// A failed verdict for a packet the kernel already dropped, or a transient
			// socket error: the queue itself is still bound.
			continue
		}
		now := time.Now()
		d.mu.Lock()
		for _, p := range pkts {
			heap.Push(&d.pending, due{at: d.due(now), id: p.ID})
		}
		d.mu.Unlock()
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (d *delayer) release() {
	defer d.releaseDone.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		var ready []uint32
		for d.pending.Len() > 0 && !d.pending[0].at.After(now) {
			ready = append(ready, heap.Pop(&d.pending).(due).id)
		}
		next := time.Hour
		if d.pending.Len() > 0 {
			next = d.pending[0].at.Sub(now)
		}
		d.mu.Unlock()
		for _, id := range ready {
			_ = d.q.Verdict(id, nfqueue.Accept)
			d.released.Add(1)
		}
		t.Reset(next)
		select {
		case <-t.C:
		case <-d.wake:
		case <-d.stop:
			d.drain()
			return
		}
	}
}

// drain accepts whatever is still held: on revert packets go out now, not when their
// delay ends. It keeps draining until the queue has been quiet for a moment, because
// packets queued just before the rule was deleted may still be on their way up.
func (d *delayer) drain() {
	quiet := time.Now()
	for time.Since(quiet) < 20*time.Millisecond {
		d.mu.Lock()
		rest := d.pending
		d.pending = nil
		d.mu.Unlock()
		for _, p := range rest {
			_ = d.q.Verdict(p.id, nfqueue.Accept)
			d.released.Add(1)
		}
		if len(rest) > 0 {
			quiet = time.Now()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// close releases every held packet and unbinds the queue. Call it after the nftables rule
// is gone, so no new packets arrive. Safe to call twice.
func (d *delayer) close() error {
	if d.closed.Swap(true) {
		return nil
	}
	close(d.stop)
	d.leaseDone.Wait()
	if d.lease != nil {
		_ = d.lease.CloseLasting()
	}
	d.releaseDone.Wait() // held packets are accepted before the socket goes
	err := d.q.Close()   // closing first would make the kernel drop them
	d.wg.Wait()
	if err != nil {
		return fmt.Errorf("nfqueue %d: %w", d.num, err)
	}
	return nil
}

type due struct {
	at time.Time
	id uint32
}

type dueHeap []due

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
