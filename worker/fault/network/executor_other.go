//go:build !linux

package network

import (
	"context"
	"errors"
	"net/netip"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Config configures the family.
type Config struct {
	Protected  func() ([]netip.Prefix, error)
	Probe      *Probe
	Containers func(ctx context.Context, place catalogue.Place, revert bool) ([]string, error)
}

// Probe is empty off Linux: there is no netlink, nftables or tc.
type Probe struct {
	Err   error
	Notes []string
}

// RunProbe reports that the family needs Linux.
func RunProbe() Probe { return Probe{Err: errors.New("network faults need Linux")} }

// Family is empty off Linux.
type Family struct{ probe Probe }

// New returns a family that offers nothing.
func New(Config) *Family { return &Family{probe: RunProbe()} }

// Probe returns why nothing is offered.
func (f *Family) Probe() Probe { return f.probe }

// Mechanisms is empty off Linux.
func (f *Family) Mechanisms() map[string]string { return nil }

// Executors is empty off Linux: the kinds stay out of the worker's capabilities.
func (f *Family) Executors() []fault.Executor { return nil }

// Close does nothing off Linux.
func (f *Family) Close() {}
