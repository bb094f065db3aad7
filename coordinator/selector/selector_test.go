package selector

import "testing"

func TestParseAndMatch(t *testing.T) {
	labels := map[string]string{"region": "eu-west", "datacenter": "eu-west-1a", "murphy.io/chaos": "enabled", "tier": "web"}
	tests := []struct {
		expr  string
		match bool
		canon string
	}{
		{"region=eu-west", true, "region=eu-west"},
		{"region==eu-west", true, "region=eu-west"},
		{"region!=eu-west", false, "region!=eu-west"},
		{"region in (us-east, eu-west)", true, "region in (eu-west,us-east)"},
		{"region notin (eu-west)", false, "region notin (eu-west)"},
		{"canary", false, "canary"},
		{"!canary", true, "!canary"},
		{"murphy.io/chaos=enabled, tier in (web,api), !canary", true, "!canary,murphy.io/chaos=enabled,tier in (api,web)"},
		{"missing notin (x)", true, "missing notin (x)"},
		{"missing!=x", true, "missing!=x"},
		{"", true, ""},
	}
	for _, tc := range tests {
		s, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		if got := s.Matches(labels); got != tc.match {
			t.Errorf("%q matches = %v, want %v", tc.expr, got, tc.match)
		}
		if s.String() != tc.canon {
			t.Errorf("%q canonical %q, want %q", tc.expr, s.String(), tc.canon)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"region in eu-west", `selector "region in eu-west": at 11: expected '(' after in`},
		{"region like (x)", `selector "region like (x)": at 8: unknown operator "like" (use =, !=, in, notin, or key / !key for existence)`},
		{"region in (a b)", `selector "region in (a b)": at 14: expected ',' or ')' in the value set`},
		{"region=", `selector "region=": at 8: expected a value`},
		{"a=b c=d", `selector "a=b c=d": at 5: expected ',' between requirements`},
		{",", `selector ",": at 1: expected a label key`},
		{"!", `selector "!": at 2: expected a label key after '!'`},
	}
	for _, tc := range tests {
		_, err := Parse(tc.expr)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error\n got %v\nwant %s", tc.expr, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"region in (a,b),!x", "a=b", "a!=b,c notin (d)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		// The canonical form parses back to itself.
		again, err := Parse(sel.String())
		if err != nil || again.String() != sel.String() {
			t.Fatalf("%q -> %q -> %q (%v)", s, sel.String(), again.String(), err)
		}
	})
}
