package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// demoFaults stands in for the worker's catalogue of the demo fault kinds.
func demoFaults(kind string, params map[string]string) error {
	allowed := map[string][]string{
		"http.delay": {"delay", "jitter", "percent"},
		"http.abort": {"status", "percent"},
	}
	names, ok := allowed[kind]
	if !ok {
		return fmt.Errorf("unknown fault kind %q; this cluster offers http.abort, http.delay", kind)
	}
	for p := range params {
		found := false
		for _, n := range names {
			found = found || n == p
		}
		if !found {
			return &ParamError{Param: p, Err: fmt.Errorf("%s takes no parameter %q", kind, p)}
		}
	}
	return nil
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{"not yaml", "apiVersion: murphy/v1\nname: [demo\n", []string{
			`exp.yaml:2: not valid YAML: did not find expected ',' or ']'`,
		}},
		{"not json", "{\"apiVersion\": \"murphy/v1\",\n \"name\": }\n", []string{
			`exp.yaml:2: not valid JSON: invalid character '}' looking for beginning of value`,
		}},
		{"tab indent", "apiVersion: murphy/v1\ntargets:\n\tselector: {}\n", []string{
			`exp.yaml:3: not valid YAML: found character that cannot start any token (indent with spaces; YAML does not allow tabs)`,
		}},
		{"empty", "", []string{
			`exp.yaml: file is empty; a spec starts with "apiVersion: murphy/v1"`,
		}},
		{"comments only", "# nothing yet\n", []string{
			`exp.yaml: file is empty; a spec starts with "apiVersion: murphy/v1"`,
		}},
		{"scalar root", "hello\n", []string{
			`exp.yaml:1: a spec is a mapping with apiVersion, name, targets, hypothesis and steps; got string "hello"`,
		}},
		{"two documents", "apiVersion: murphy/v1\n---\napiVersion: murphy/v1\n", []string{
			`exp.yaml:3: file holds more than one YAML document; put one experiment per file`,
		}},
		{"missing apiVersion and name", `targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:1: apiVersion: required; set it to "murphy/v1"`,
			`exp.yaml:1: name: required; name the experiment, e.g. checkout-latency-one-dc`,
		}},
		{"wrong apiVersion, bad name", `apiVersion: murphy/v2
name: Checkout_Latency
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:1: apiVersion: unsupported version "murphy/v2"; this Murphy reads "murphy/v1"`,
			`exp.yaml:2: name: "Checkout_Latency" is not a valid name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
		}},
		{"unknown fields", `apiVersion: murphy/v1
name: demo
targets:
  selector: {app: web}
  experimnt: {count: 2}
  colour: blue
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:5: targets.experimnt: unknown field; did you mean "experiment"?`,
			`exp.yaml:6: targets.colour: unknown field; valid fields are selector, experiment, control, stratify, blastRadius, seed, onConflict, kubernetes`,
		}},
		{"wrong types", `apiVersion: murphy/v1
name: demo
targets:
  selector: {app: web}
  experiment: {count: "4"}
  seed: 1.5
hypothesis:
  metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}, critical: yes}]
  confidence: high
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:5: targets.experiment.count: must be a whole number, got string "4"`,
			`exp.yaml:6: targets.seed: must be a whole number, got 1.5`,
			`exp.yaml:8: hypothesis.metrics[0].critical: must be true or false, got string "yes"`,
			`exp.yaml:9: hypothesis.confidence: must be a number, got string "high"`,
		}},
		{"durations", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/", interval: 0s, timeout: 30}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
baseline: 30 seconds
cooldown: -5s
steps:
  - fault: http.delay
    params: {delay: 200ms}
    duration: 0s
`, []string{
			`exp.yaml:4: hypothesis.metrics[0].source.probe.http.interval: must be greater than zero`,
			`exp.yaml:4: hypothesis.metrics[0].source.probe.http.timeout: must be a duration with a unit, such as "30s", got number 30`,
			`exp.yaml:5: baseline: invalid duration "30 seconds"; use a number with a unit, such as "30s", "2m" or "1h30m"`,
			`exp.yaml:6: cooldown: must not be negative, got -5s`,
			`exp.yaml:10: steps[0].duration: must be greater than zero`,
		}},
		{"group sizes", `apiVersion: murphy/v1
name: demo
targets:
  selector: {app: web}
  experiment: {count: 0}
  control: {count: 2, percent: 10}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:5: targets.experiment.count: must be at least 1`,
			`exp.yaml:6: targets.control: set count or percent, not both`,
		}},
		{"percent and empty selector", `apiVersion: murphy/v1
name: demo
targets:
  selector: {}
  experiment: {percent: 150}
  control: {}
  blastRadius: {maxWorkers: 0, maxPercentPerRegion: 0}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:4: targets.selector: must match at least one label; an empty selector would select every worker`,
			`exp.yaml:5: targets.experiment.percent: must be greater than 0 and at most 100, got 150`,
			`exp.yaml:6: targets.control: set count or percent, e.g. {count: 4} or {percent: 25}`,
			`exp.yaml:7: targets.blastRadius.maxWorkers: must be at least 1`,
			`exp.yaml:7: targets.blastRadius.maxPercentPerRegion: must be greater than 0 and at most 100, got 0`,
		}},
		{"count over blast radius", `apiVersion: murphy/v1
name: demo
targets:
  selector: {app: web}
  experiment: {count: 12}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:5: targets.experiment.count: 12 workers exceeds the default targets.blastRadius.maxWorkers of 10; lower the count or raise the cap`,
		}},
		{"count over explicit blast radius", `apiVersion: murphy/v1
name: demo
targets:
  selector: {app: web}
  experiment:
    count: 5
  blastRadius:
    maxWorkers: 3
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:6: targets.experiment.count: 5 workers exceeds targets.blastRadius.maxWorkers of 3 (line 8); lower the count or raise the cap`,
		}},
		{"no metrics, no steps", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {}
steps: []
`, []string{
			`exp.yaml:4: hypothesis.metrics: required; list at least one metric: the steady state is what the experiment tests (metrics: [] declares that there is none, and the run judges nothing)`,
			`exp.yaml:5: steps: at least one step is required; a step is the fault to inject`,
		}},
		{"metric problems", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis:
  metrics:
    - name: lat
      source: {}
      direction: up
      tolerance: {relative: 0.1, absolute: 2}
    - name: lat
      source:
        probe: {http: {url: "http://127.0.0.1/"}, measure: latency}
        prometheus: {query: up}
      direction: increase
      tolerance: {}
    - name: err
      source: {probe: {http: {url: "ftp://x/"}, measure: speed}}
      direction: decrease
      tolerance: {absolute: -1}
  confidence: 1
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:7: hypothesis.metrics[0].source: set probe or prometheus`,
			`exp.yaml:8: hypothesis.metrics[0].direction: must be one of increase, decrease, either, got "up"`,
			`exp.yaml:9: hypothesis.metrics[0].tolerance: set relative or absolute, not both`,
			`exp.yaml:10: hypothesis.metrics[1].name: duplicate metric name "lat"; first defined on line 6`,
			`exp.yaml:11: hypothesis.metrics[1].source: set probe or prometheus, not both; use two metrics to watch both`,
			`exp.yaml:15: hypothesis.metrics[1].tolerance: set relative (e.g. 0.10 for 10%) or absolute`,
			`exp.yaml:17: hypothesis.metrics[2].source.probe.http.url: invalid URL "ftp://x/": must start with http:// or https://`,
			`exp.yaml:17: hypothesis.metrics[2].source.probe.measure: must be one of latency, status, status_class, success, got "speed"`,
			`exp.yaml:19: hypothesis.metrics[2].tolerance.absolute: must not be negative, got -1`,
			`exp.yaml:20: hypothesis.confidence: must be between 0 and 1 (exclusive), e.g. 0.95; got 1`,
		}},
		{"abort problems", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: error_rate, source: {prometheus: {query: "sum(rate(x[30s]))"}}, direction: increase, tolerance: {absolute: 0.01}}]}
abort:
  - metric: eror_rate
    above: 0.05
  - metric: error_rate
    for: 3s
  - metric: error_rate
    above: 1
    below: 2
  - metric: error_rate
    deviation: {relative: 0}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:6: abort[0].metric: unknown metric "eror_rate"; did you mean "error_rate"?`,
			`exp.yaml:8: abort[1]: set above, below or deviation; a guardrail needs a threshold`,
			`exp.yaml:11: abort[2].above: must be greater than below (2); otherwise the guardrail always trips`,
			`exp.yaml:14: abort[3].deviation.relative: must be greater than zero`,
		}},
		{"step problems", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps:
  - fault: network.dely
    params: {delay: 200ms}
    duration: 30s
  - fault: http.delay
    params: {delay: 200ms, ports: [80, 443]}
    duration: 30s
  - fault: http.abort
    params: {status: 503}
  - fault: HTTP DELAY
`, []string{
			`exp.yaml:6: steps[0].fault: unknown fault kind "network.dely"; this cluster offers http.abort, http.delay`,
			`exp.yaml:10: steps[1].params.ports: http.delay takes no parameter "ports"`,
			`exp.yaml:12: steps[2].duration: required for fault "http.abort"; the worker reverts it when the duration ends`,
			`exp.yaml:14: steps[3].fault: "HTTP DELAY" is not a fault kind; kinds look like http.delay`,
		}},
		{"schedule problems", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
schedule: {cron: "*/30 9-25 * * MON-FRI", timezone: Mars/Olympus}
`, []string{
			`exp.yaml:6: schedule.cron: cron hour field "9-25": 25 is out of range 0-23`,
			`exp.yaml:6: schedule.timezone: unknown time zone "Mars/Olympus"; use an IANA name such as Europe/Helsinki or UTC`,
		}},
		{"cron field count", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
schedule: {cron: "0 9 * *"}
`, []string{
			`exp.yaml:6: schedule.cron: cron "0 9 * *" must have 5 fields (minute hour day-of-month month day-of-week), 6 with a leading seconds field, or be a descriptor such as @hourly; got 4 fields`,
		}},
		{"cron descriptor", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
schedule: {cron: "@fortnightly"}
`, []string{
			`exp.yaml:6: schedule.cron: cron "@fortnightly": unrecognized descriptor: @fortnightly; descriptors are @yearly, @monthly, @weekly, @daily, @hourly and @every <duration>`,
		}},
		{"overlap problems", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
schedule: {cron: "@hourly", overlap: pile, maxQueued: 3}
`, []string{
			`exp.yaml:6: schedule.overlap: "pile" is not an overlap policy; use skip (the default), queue or replace`,
			`exp.yaml:6: schedule.maxQueued: applies only with overlap: queue`,
		}},
		{"duplicate field", `apiVersion: murphy/v1
name: demo
name: demo2
targets: {selector: {app: web, app: api}, experiment: {count: 2}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:3: name: duplicate field; first set on line 2`,
			`exp.yaml:4: targets.selector.app: duplicate key; first set on line 4`,
		}},
		{"probe and query details", `apiVersion: murphy/v1
name: demo
labels: [a, b]
targets: {selector: {app: web}, experiment: {count: 2}, stratify: [region, region]}
hypothesis:
  metrics:
    - name: lat
      source: {probe: {http: {url: "http://[::1", method: FETCH, expectStatus: 700}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: q
      source: {prometheus: {query: "{{.Instances"}}
      direction: either
      tolerance: {absolute: 1}
steps: [~, {fault: http.delay, params: {delay: {ms: 200}}, duration: 30s}]
`, []string{
			`exp.yaml:3: labels: must be a mapping, got a list`,
			`exp.yaml:4: targets.stratify[1]: label "region" is listed twice`,
			`exp.yaml:8: hypothesis.metrics[0].source.probe.http.url: invalid URL "http://[::1": missing ']' in host`,
			`exp.yaml:8: hypothesis.metrics[0].source.probe.http.method: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, got "FETCH"`,
			`exp.yaml:8: hypothesis.metrics[0].source.probe.http.expectStatus: must be an HTTP status between 100 and 599, got 700`,
			`exp.yaml:12: hypothesis.metrics[1].source.prometheus.query: invalid template: unclosed action`,
			`exp.yaml:15: steps[0]: must not be empty`,
			`exp.yaml:15: steps[1].params.delay: must be a value or a list of values, got a mapping`,
		}},
		{"probe kinds", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis:
  metrics:
    - name: none
      source: {probe: {measure: latency}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: two
      source: {probe: {http: {url: "http://127.0.0.1/"}, tcp: {address: "127.0.0.1:80"}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: typo
      source: {probe: {tcpp: {address: "127.0.0.1:80"}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: tcp_status
      source: {probe: {tcp: {address: "127.0.0.1:80"}, measure: status}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: grpc_number
      source: {probe: {grpc: {address: "127.0.0.1:9090"}, measure: number}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: command_class
      source: {probe: {command: {argv: [sh, -c, "echo 1"]}, measure: status_class}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: http_exit
      source: {probe: {http: {url: "http://127.0.0.1/"}, measure: exit_code}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: no_measure
      source: {probe: {command: {argv: [true]}}}
      direction: increase
      tolerance: {relative: 0.1}
    - name: bad_measure
      source: {probe: {tcp: {address: "127.0.0.1:80"}, measure: succes}}
      direction: increase
      tolerance: {relative: 0.1}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:7: hypothesis.metrics[0].source.probe: set one probe kind: http, tcp, grpc, command or kubernetes`,
			`exp.yaml:11: hypothesis.metrics[1].source.probe: set one probe kind, got http and tcp; use one metric per probe`,
			`exp.yaml:15: hypothesis.metrics[2].source.probe.tcpp: unknown field; did you mean "tcp"?`,
			`exp.yaml:19: hypothesis.metrics[3].source.probe.measure: "status" does not apply to a tcp probe; use one of latency, success`,
			`exp.yaml:23: hypothesis.metrics[4].source.probe.measure: "number" does not apply to a grpc probe; use one of latency, success`,
			`exp.yaml:27: hypothesis.metrics[5].source.probe.measure: "status_class" does not apply to a command probe; use one of latency, success, exit_code, number`,
			`exp.yaml:31: hypothesis.metrics[6].source.probe.measure: "exit_code" does not apply to an http probe; use one of latency, status, status_class, success`,
			`exp.yaml:35: hypothesis.metrics[7].source.probe.measure: required; one of latency, success, exit_code, number`,
			`exp.yaml:39: hypothesis.metrics[8].source.probe.measure: must be one of latency, success, got "succes"; did you mean "success"?`,
		}},
		{"probe fields", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis:
  metrics:
    - name: body
      source: {probe: {http: {url: "http://127.0.0.1/", bodyMatch: "ok(", timeout: 0s}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: tcp
      source:
        probe:
          tcp: {address: "127.0.0.1", interval: 1}
          measure: latency
      direction: increase
      tolerance: {relative: 0.1}
    - name: tcp_port
      source: {probe: {tcp: {address: "db:99999"}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: tcp_host
      source: {probe: {tcp: {address: ":6379", port: 1}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: grpc
      source: {probe: {grpc: {service: checkout}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: grpc_svc
      source: {probe: {grpc: {address: "{{proxy}}", service: [a]}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: cmd_none
      source: {probe: {command: {argv: []}, measure: exit_code}}
      direction: increase
      tolerance: {absolute: 0}
    - name: cmd_bad
      source:
        probe:
          command:
            argv: ["", "a\0b", [x]]
            env: {"1X": a, OK: "b\0", GOOD: c, LIST: [1]}
          measure: number
      direction: increase
      tolerance: {absolute: 0}
    - name: cmd_missing
      source: {probe: {command: {args: [ls]}, measure: exit_code}}
      direction: increase
      tolerance: {absolute: 0}
    - name: cmd_shell
      source: {probe: {command: {argv: "sh -c 'echo 1'"}, measure: number}}
      direction: increase
      tolerance: {absolute: 0}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:7: hypothesis.metrics[0].source.probe.http.bodyMatch: invalid regular expression: missing closing ): ` + "`ok(`",
			`exp.yaml:7: hypothesis.metrics[0].source.probe.http.timeout: must be greater than zero`,
			`exp.yaml:13: hypothesis.metrics[1].source.probe.tcp.address: invalid address "127.0.0.1": must be host:port, e.g. 127.0.0.1:8080 or {{proxy}}`,
			`exp.yaml:13: hypothesis.metrics[1].source.probe.tcp.interval: must be a duration with a unit, such as "1s", got number 1`,
			`exp.yaml:18: hypothesis.metrics[2].source.probe.tcp.address: invalid address "db:99999": port must be a number between 1 and 65535`,
			`exp.yaml:22: hypothesis.metrics[3].source.probe.tcp.address: invalid address ":6379": no host`,
			`exp.yaml:22: hypothesis.metrics[3].source.probe.tcp.port: unknown field; valid fields are address, interval, timeout`,
			`exp.yaml:26: hypothesis.metrics[4].source.probe.grpc.address: required, e.g. 127.0.0.1:8080`,
			`exp.yaml:30: hypothesis.metrics[5].source.probe.grpc.service: must be a string, got a list`,
			`exp.yaml:34: hypothesis.metrics[6].source.probe.command.argv: must name the program to run, e.g. [redis-cli, ping]`,
			`exp.yaml:41: hypothesis.metrics[7].source.probe.command.argv[0]: the program name must not be empty`,
			`exp.yaml:41: hypothesis.metrics[7].source.probe.command.argv[1]: must not contain a NUL byte`,
			`exp.yaml:41: hypothesis.metrics[7].source.probe.command.argv[2]: must be a string, got a list`,
			`exp.yaml:42: hypothesis.metrics[7].source.probe.command.env.1X: "1X" is not an environment variable name; use letters, digits and '_', not starting with a digit`,
			`exp.yaml:42: hypothesis.metrics[7].source.probe.command.env.OK: must not contain a NUL byte`,
			`exp.yaml:42: hypothesis.metrics[7].source.probe.command.env.LIST: must be a string, got a list`,
			`exp.yaml:47: hypothesis.metrics[8].source.probe.command.args: unknown field; did you mean "argv"?`,
			`exp.yaml:51: hypothesis.metrics[9].source.probe.command.argv: must be a list, got string "sh -c 'echo 1'"`,
		}},
		{"probe requests and jsonPath", `apiVersion: murphy/v1
name: demo
targets: {selector: {app: web}, experiment: {count: 2}}
hypothesis:
  metrics:
    - name: bad_path
      source: {probe: {http: {url: "http://127.0.0.1/", jsonPath: {path: "$."}}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: not_rfc9535
      source: {probe: {command: {argv: [stat], jsonPath: {path: "status", expect: []}}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: count_and_expect
      source: {probe: {http: {url: "http://127.0.0.1/", jsonPath: {path: "", count: -1, expect: ok}}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: no_path
      source: {probe: {command: {argv: [stat], jsonPath: {expect: [.nan], cnt: 1}}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
    - name: headers
      source:
        probe:
          http:
            url: "http://127.0.0.1/"
            method: POST
            headers:
              X Token: a
              X-Evil: "a\r\nX-Injected: 1"
              content-length: "3"
              accept: a
              Accept: b
              X-List: [1]
            body: ` + strings.Repeat("b", MaxProbeBody+1) + `
          measure: success
      direction: decrease
      tolerance: {absolute: 0.1}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			"exp.yaml:7: hypothesis.metrics[0].source.probe.http.jsonPath.path: invalid JSONPath (RFC 9535): unexpected eof at position 3",
			"exp.yaml:11: hypothesis.metrics[1].source.probe.command.jsonPath.path: \"status\" does not start with $; an RFC 9535 JSONPath query starts at the document's root, e.g. $.status",
			"exp.yaml:11: hypothesis.metrics[1].source.probe.command.jsonPath.expect: must list at least one value; to require that nothing matches, use count: 0",
			"exp.yaml:15: hypothesis.metrics[2].source.probe.http.jsonPath: set count or expect, not both",
			"exp.yaml:15: hypothesis.metrics[2].source.probe.http.jsonPath.path: must not be empty; an RFC 9535 JSONPath query starts with $, e.g. $.status",
			"exp.yaml:15: hypothesis.metrics[2].source.probe.http.jsonPath.count: must not be negative",
			"exp.yaml:19: hypothesis.metrics[3].source.probe.command.jsonPath.path: required; an RFC 9535 JSONPath query, e.g. $.status",
			"exp.yaml:19: hypothesis.metrics[3].source.probe.command.jsonPath.expect[0]: must be a finite number, got .nan",
			"exp.yaml:19: hypothesis.metrics[3].source.probe.command.jsonPath.cnt: unknown field; valid fields are path, expect, count",
			"exp.yaml:29: hypothesis.metrics[4].source.probe.http.headers.X Token: \"X Token\" is not a valid header name; use letters, digits and !#$%&'*+-.^_`|~",
			"exp.yaml:30: hypothesis.metrics[4].source.probe.http.headers.X-Evil: must not hold control characters such as line breaks",
			"exp.yaml:31: hypothesis.metrics[4].source.probe.http.headers.content-length: Murphy sets Content-Length, Transfer-Encoding and Trailer from the body; leave it out",
			"exp.yaml:32: hypothesis.metrics[4].source.probe.http.headers.accept: the same header as \"Accept\" (header names are case-insensitive)",
			"exp.yaml:34: hypothesis.metrics[4].source.probe.http.headers.X-List: must be a string, got a list",
			"exp.yaml:35: hypothesis.metrics[4].source.probe.http.body: is 65537 bytes; the limit is 65536",
		}},
		{"typo inside a merged anchor", `apiVersion: murphy/v1
name: demo
x-sizes: &two {count: 2, percnt: 5}
targets: {selector: {app: web}, experiment: {<<: *two}, control: {<<: *two, count: 3}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`, []string{
			`exp.yaml:3: targets.experiment.percnt: unknown field; did you mean "percent"?`,
			`exp.yaml:3: targets.control.percnt: unknown field; did you mean "percent"?`,
		}},
		{"unknown anchor", "apiVersion: murphy/v1\nname: *nope\n", []string{
			`exp.yaml:2: not valid YAML: unknown anchor 'nope' referenced`,
		}},
		{"json wrong type", `{
  "apiVersion": "murphy/v1",
  "name": "demo",
  "targets": {"selector": {"app": "web"}, "experiment": {"count": "2"}},
  "hypothesis": {"metrics": [{"name": "lat", "source": {"probe": {"http": {"url": "http://127.0.0.1/"}, "measure": "latency"}}, "direction": "increase", "tolerance": {"relative": 0.1}}]},
  "steps": [{"fault": "http.delay", "params": {"delay": "200ms"}, "duration": "30s"}]
}`, []string{
			`exp.yaml:4: targets.experiment.count: must be a whole number, got string "2"`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), "exp.yaml", Options{ValidateFault: demoFaults})
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false")
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is %T, want *Error", err)
			}
			wantError := strings.Join(tc.want, "\n")
			if len(tc.want) > 1 {
				wantError = fmt.Sprintf("exp.yaml: experiment spec has %d problems\n", len(tc.want)) + wantError
			}
			if err.Error() != wantError {
				t.Errorf("Error() =\n%s\nwant\n%s", err.Error(), wantError)
			}
			got := perr.Lines()
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				var b strings.Builder
				for _, l := range got {
					fmt.Fprintf(&b, "\t\t\t%q,\n", l)
				}
				t.Log("\n" + b.String())
			}
		})
	}
}

func TestProbeURLProxyPlaceholder(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"http://{{proxy}}/health", ""},
		{"ftp://{{proxy}}/", `invalid URL "ftp://{{proxy}}/": must start with http:// or https://`},
		{"http://{{prox}}/", `invalid URL "http://{{prox}}/": invalid character "{" in host name`},
	} {
		if got := checkURL(tc.url); got != tc.want {
			t.Errorf("checkURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}
