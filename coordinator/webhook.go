package coordinator

import (
	"fmt"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/notify"
)

// setupWebhooks starts the notifier when webhooks are configured. Every node observes
// its FSM, but the notifier acts only between Lead (in startLeading, after the barrier)
// and Follow; see coordinator/notify's DESIGN note for why a new leader resends nothing.
func (s *Server) setupWebhooks() error {
	c := s.cfg.Webhooks
	if c.Logger == nil {
		c.Logger = s.log
	}
	if c.Registerer == nil {
		c.Registerer = s.cfg.Registerer
	}
	n, err := notify.New(c)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	s.webhooks = n
	if n != nil {
		s.fsm.Observe(func(ch fsm.Change) { n.Changed(ch.RunID, ch.Cluster) })
	}
	return nil
}

// WebhookDeliveries returns this node's most recent webhook deliveries, oldest first.
func (s *Server) WebhookDeliveries() []notify.Delivery { return s.webhooks.Deliveries() }
