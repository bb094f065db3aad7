package chaostoolkit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// act writes one method activity: opts may hold "bg", "python", and a pauses mapping
// such as `{"before": 2}`.
func act(name string, opts ...string) string {
	provider := `{"type": "process", "path": "echo", "arguments": ["` + name + `"]}`
	extra := ""
	for _, o := range opts {
		switch {
		case o == "bg":
			extra += `, "background": true`
		case o == "python":
			provider = `{"type": "python", "module": "chaosaws.ec2.actions", "func": "stop_instances"}`
		case strings.HasPrefix(o, "{"):
			extra += `, "pauses": ` + o
		}
	}
	return fmt.Sprintf(`{"type": "action", "name": %q, "provider": %s%s}`, name, provider, extra)
}

// TestConvertBackground checks that the step after a background activity starts with
// it, how pauses and dropped activities around it are placed, and what is noted.
func TestConvertBackground(t *testing.T) {
	type want struct {
		step     string // the echoed name
		parallel bool
		hold     time.Duration
	}
	tests := []struct {
		name     string
		method   []string
		steps    []want
		baseline time.Duration // added to the default 10s
		notes    []string
		notNoted []string
	}{
		{"the next step starts with it", []string{act("a", "bg"), act("b")},
			[]want{{"a", false, 10 * time.Second}, {"b", true, 10 * time.Second}}, 0,
			[]string{`method[0].background: "a" runs in the background: the next step, "b", starts together with it (parallel: true)`},
			[]string{"no later activity", "Murphy starts"}},
		{"the step after the group waits for it", []string{act("a", "bg"), act("b"), act("c")},
			[]want{{"a", false, 10 * time.Second}, {"b", true, 10 * time.Second}, {"c", false, 10 * time.Second}}, 0,
			[]string{`method[2]: Murphy starts "c" once every step before it has ended, including the background "a"; Chaos Toolkit does not wait for background activities`},
			nil},
		{"consecutive background activities", []string{act("a", "bg"), act("b", "bg"), act("c"), act("d")},
			[]want{{"a", false, 10 * time.Second}, {"b", true, 10 * time.Second}, {"c", true, 10 * time.Second}, {"d", false, 10 * time.Second}}, 0,
			[]string{
				`method[0].background: "a" runs in the background: the next step, "b", starts together with it`,
				`method[1].background: "b" runs in the background: the next step, "c", starts together with it`,
				`method[3]: Murphy starts "d" once every step before it has ended, including the background "a", "b"`,
			}, nil},
		{"the last activity", []string{act("a"), act("b", "bg")},
			[]want{{"a", false, 10 * time.Second}, {"b", false, 10 * time.Second}}, 0,
			[]string{`method[1].background: no later activity runs beside "b"; Murphy waits for it before the method ends, as Chaos Toolkit does`},
			[]string{"starts together"}},
		{"the only activity", []string{act("a", "bg")},
			[]want{{"a", false, 10 * time.Second}}, 0,
			[]string{`method[0].background: no later activity runs beside "a"`}, nil},
		{"last but for a dropped one", []string{act("a"), act("b", "bg"), act("x", "python", `{"after": 5}`)},
			[]want{{"a", false, 10 * time.Second}, {"b", false, 15 * time.Second}}, 0,
			[]string{`method[1].background: no later activity runs beside "b"`}, nil},
		{"a dropped activity between", []string{act("a", "bg"), act("x", "python", `{"before": 2, "after": 3}`), act("b")},
			[]want{{"a", false, 10 * time.Second}, {"b", true, 15 * time.Second}}, 0,
			[]string{`method[2]: Chaos Toolkit starts "b" after the dropped "x", while "a" may still run; Murphy cannot start a step partway through another, so it starts together with "a"`},
			nil},
		{"a dropped background activity keeps the chain", []string{act("a", "bg"), act("x", "python", "bg", `{"after": 30}`), act("b")},
			[]want{{"a", false, 10 * time.Second}, {"b", true, 10 * time.Second}}, 0,
			nil, []string{"after the dropped"}},
		{"a dropped background activity starts nothing", []string{act("p"), act("x", "python", "bg", `{"after": 30}`), act("b")},
			[]want{{"p", false, 10 * time.Second}, {"b", false, 10 * time.Second}}, 0,
			nil, []string{"starts together"}},
		{"pauses", []string{act("a", "bg", `{"before": 2, "after": 4}`), act("b", `{"before": 3}`)},
			[]want{{"a", false, 4 * time.Second}, {"b", true, 13 * time.Second}}, 2 * time.Second,
			[]string{
				`method[0].pauses.before: in Chaos Toolkit the pause before "a" delays only "a", in its own thread; here it delays "b" too, which starts together with it`,
				`method[1].pauses.before: "b" starts together with "a", so its pause before lengthens its own step instead of delaying it`,
			}, nil},
		{"background is read on the ref", []string{act("a"), `{"ref": "a", "background": true}`, act("b")},
			[]want{{"a", false, 10 * time.Second}, {"a", false, 10 * time.Second}, {"b", true, 10 * time.Second}}, 0,
			[]string{`method[1].background: "a" runs in the background: the next step, "b", starts together with it`}, nil},
		{"not on the activity a ref leads to", []string{act("a", "bg"), act("b"), `{"ref": "a"}`, act("c")},
			[]want{{"a", false, 10 * time.Second}, {"b", true, 10 * time.Second}, {"a", false, 10 * time.Second}, {"c", false, 10 * time.Second}}, 0,
			[]string{`method[2]: Murphy starts "a" once every step before it has ended, including the background "a"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := experiment("", strings.Join(tt.method, ", "))
			r, err := Convert([]byte(doc), "x.json", Options{SkipUnsupported: true, Spec: specOpts()})
			if err != nil {
				t.Fatal(err)
			}
			e := r.Experiment
			if len(e.Steps) != len(tt.steps) {
				t.Fatalf("%d steps, want %d: %+v", len(e.Steps), len(tt.steps), e.Steps)
			}
			for i, w := range tt.steps {
				s := e.Steps[i]
				if got := s.Fault.GetParams()["inject"]; got != `["echo","`+w.step+`"]` || s.Parallel != w.parallel || s.Fault.GetDuration().AsDuration() != w.hold {
					t.Errorf("step %d: %s parallel %v for %s; want echo %s parallel %v for %s", i, got, s.Parallel, s.Fault.GetDuration().AsDuration(), w.step, w.parallel, w.hold)
				}
			}
			if got := e.Baseline.AsDuration(); got != 10*time.Second+tt.baseline {
				t.Errorf("baseline %s, want %s", got, 10*time.Second+tt.baseline)
			}
			notes := notesOf(r)
			if strings.Contains(notes, "one after another") {
				t.Errorf("notes still say steps run one after another:\n%s", notes)
			}
			for _, w := range tt.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
			for _, w := range tt.notNoted {
				if strings.Contains(notes, w) {
					t.Errorf("notes say %q:\n%s", w, notes)
				}
			}
		})
	}
}
