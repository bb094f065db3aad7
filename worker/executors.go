package worker

import (
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
)

// executorBuilder creates one fault family's executors for an agent. A family whose
// mechanism this host lacks returns none (and the kinds stay out of the worker's
// capabilities); an error means the family is misconfigured and the worker must not start.
type executorBuilder struct {
	family string
	build  func(a *Agent) ([]fault.Executor, error)
}

// executorBuilders lists every family. Each family appends itself from its own
// executors_<family>.go file in an init function, so adding one touches no shared line.
var executorBuilders []executorBuilder

func registerFamily(family string, build func(a *Agent) ([]fault.Executor, error)) {
	executorBuilders = append(executorBuilders, executorBuilder{family: family, build: build})
}

func init() {
	registerFamily("http", func(a *Agent) ([]fault.Executor, error) {
		if len(a.proxies) == 0 {
			return nil, nil
		}
		return httpfault.Executors(a.proxies), nil
	})
}
