package worker

import (
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/action"
)

// The action family needs nothing from the host, so every worker offers it.
func init() {
	registerFamily("action", func(a *Agent) ([]fault.Executor, error) {
		return []fault.Executor{&action.Call{Proxy: func() string {
			if len(a.proxies) == 0 {
				return ""
			}
			return a.proxies[0].Addr()
		}}}, nil
	})
}
