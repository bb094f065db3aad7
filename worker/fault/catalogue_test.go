package fault

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		kind   string
		params map[string]string
		want   string // substring of the error; empty means valid
	}{
		{"delay ok", "http.delay", map[string]string{"delay": "200ms"}, ""},
		{"delay full", "http.delay", map[string]string{"delay": "1s", "jitter": "20ms", "percent": "50", "proxy": "127.0.0.1:18080"}, ""},
		{"unknown kind", "http.dealy", nil, `unknown fault kind "http.dealy" (known: `},
		{"bad duration", "http.delay", map[string]string{"delay": "abc"}, `http.delay: params.delay: "abc" is not a duration`},
		{"missing delay", "http.delay", map[string]string{}, "http.delay: params.delay is required"},
		{"negative jitter", "http.delay", map[string]string{"delay": "1s", "jitter": "-1s"}, "params.jitter: -1s is out of range"},
		{"zero percent", "http.delay", map[string]string{"delay": "1s", "percent": "0"}, "params.percent: 0 is out of range (0,100]"},
		{"percent too big", "http.abort", map[string]string{"status": "503", "percent": "101"}, "out of range"},
		{"percent not number", "http.abort", map[string]string{"status": "503", "percent": "x"}, `"x" is not a number`},
		{"unknown param", "http.delay", map[string]string{"delay": "1s", "dealy": "1s"}, `http.delay: unknown param "dealy" (known: delay, jitter, percent, proxy)`},
		{"abort ok", "http.abort", map[string]string{"status": "503", "percent": "12.5"}, ""},
		{"abort status range", "http.abort", map[string]string{"status": "700"}, "http.abort: params.status: 700 is not between 100 and 599"},
		{"abort status text", "http.abort", map[string]string{"status": "boom"}, `"boom" is not an integer`},
		{"bad proxy", "http.abort", map[string]string{"status": "503", "proxy": "nope"}, `params.proxy: "nope" is not a host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.kind, tt.params)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: unexpected error %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate: no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParamDefaults(t *testing.T) {
	p := map[string]string{"delay": "150ms"}
	if got := Duration(p, "http.delay", "delay"); got != 150*time.Millisecond {
		t.Errorf("delay = %v", got)
	}
	if got := Duration(p, "http.delay", "jitter"); got != 0 {
		t.Errorf("jitter default = %v", got)
	}
	if got := Percent(p, "http.delay", "percent"); got != 1 {
		t.Errorf("percent default = %v", got)
	}
	if got := Int(map[string]string{"status": "503"}, "http.abort", "status"); got != 503 {
		t.Errorf("status = %v", got)
	}
}

func TestPolicy(t *testing.T) {
	p := Policy{Allowed: []string{"http.delay"}, Denied: []string{"http.abort"}, MaxDuration: time.Minute}
	if err := p.Allows("http.delay"); err != nil {
		t.Errorf("delay: %v", err)
	}
	if err := p.Allows("http.abort"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("abort: %v", err)
	}
	if err := (Policy{Allowed: []string{"x"}}).Allows("http.delay"); err == nil {
		t.Error("delay allowed by a policy that lists only x")
	}
	if err := (Policy{}).Allows("http.abort"); err != nil {
		t.Errorf("empty policy: %v", err)
	}
	now := time.Unix(1000, 0)
	if got := p.Deadline(now, now.Add(time.Hour)); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("capped deadline = %v", got)
	}
	if got := p.Deadline(now, now.Add(time.Second)); !got.Equal(now.Add(time.Second)) {
		t.Errorf("uncapped deadline = %v", got)
	}
}
