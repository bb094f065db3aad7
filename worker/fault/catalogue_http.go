package fault

func init() {
	register(
		Kind{
			Name:    "http.delay",
			Summary: "delay requests passing through the worker's HTTP fault proxy",
			Params: []Param{
				{Name: "delay", Type: TypeDuration, Required: true, Min: 1, Max: int64(maxFaultDelay),
					Help: "added latency, e.g. 200ms"},
				{Name: "jitter", Type: TypeDuration, Default: "0s", Min: 0, Max: int64(maxFaultDelay),
					Help: "each request gets delay ± a uniform jitter, clamped at zero"},
				{Name: "percent", Type: TypePercent, Default: "100",
					Help: "share of requests affected, in (0,100]"},
				{Name: "proxy", Type: TypeAddr,
					Help: "listen address of one proxy; default every proxy of the worker"},
			},
		},
		Kind{
			Name:    "http.abort",
			Summary: "answer requests passing through the worker's HTTP fault proxy with an error status",
			Params: []Param{
				{Name: "status", Type: TypeInt, Required: true, Min: 100, Max: 599,
					Help: "HTTP status to answer with, e.g. 503"},
				{Name: "percent", Type: TypePercent, Default: "100",
					Help: "share of requests affected, in (0,100]"},
				{Name: "proxy", Type: TypeAddr,
					Help: "listen address of one proxy; default every proxy of the worker"},
			},
		},
	)
}
