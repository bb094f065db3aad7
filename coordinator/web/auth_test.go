package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// calls records what the pages asked of the cluster and for whom.
type calls struct {
	mu  sync.Mutex
	log []string
	f   *fsm.FSM
	idx uint64
}

// add records the call and commits it, as the leader would.
func (c *calls) add(ctx context.Context, what string, cmd *murphyv1.Command) {
	who, _ := CallerFrom(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, what+" for "+who)
	c.idx++
	cmd.At, cmd.By = timestamppb.New(t0.Add(time.Hour)), who
	_ = c.f.ApplyCommand(2000+c.idx, cmd)
}

func (c *calls) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

func (c *calls) Halt(ctx context.Context, in *murphyv1.HaltRequest, _ ...grpc.CallOption) (*murphyv1.HaltResponse, error) {
	c.add(ctx, "Halt "+in.RunId, &murphyv1.Command{Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: in.RunId, Reason: in.Reason}}})
	return &murphyv1.HaltResponse{}, nil
}

func (c *calls) HaltAll(ctx context.Context, _ *murphyv1.HaltAllRequest, _ ...grpc.CallOption) (*murphyv1.HaltAllResponse, error) {
	c.add(ctx, "HaltAll", &murphyv1.Command{Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: "x"}}})
	return &murphyv1.HaltAllResponse{}, nil
}

func (c *calls) Resume(ctx context.Context, _ *murphyv1.ResumeRequest, _ ...grpc.CallOption) (*murphyv1.ResumeResponse, error) {
	c.add(ctx, "Resume", &murphyv1.Command{Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{}}})
	return &murphyv1.ResumeResponse{}, nil
}

func (c *calls) PauseSchedules(ctx context.Context, _ *murphyv1.PauseSchedulesRequest, _ ...grpc.CallOption) (*murphyv1.PauseSchedulesResponse, error) {
	c.add(ctx, "PauseSchedules", &murphyv1.Command{Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true}}})
	return &murphyv1.PauseSchedulesResponse{}, nil
}

func (c *calls) ResumeSchedules(ctx context.Context, _ *murphyv1.ResumeSchedulesRequest, _ ...grpc.CallOption) (*murphyv1.ResumeSchedulesResponse, error) {
	c.add(ctx, "ResumeSchedules", &murphyv1.Command{Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{}}})
	return &murphyv1.ResumeSchedulesResponse{}, nil
}

// certs issues one certificate per role/name from a fresh CA and returns them parsed.
func certs(t *testing.T, who ...string) map[string]*x509.Certificate {
	t.Helper()
	dir := t.TempDir()
	if err := tlsutil.InitCA(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	out := map[string]*x509.Certificate{}
	for _, rn := range who {
		role, name, _ := strings.Cut(rn, "/")
		crt, _, err := tlsutil.Issue(dir, filepath.Join(dir, role), role, name, nil, time.Hour, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(crt)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out[rn] = c
	}
	return out
}

const (
	operatorToken = "op-token-0123456789abcdef"
	adminToken    = "admin-token-0123456789abcdef"
)

func securedHandler(t *testing.T) (*Handler, *calls) {
	f := fsm.New()
	fill(t, f, 1, 2)
	// A running run to halt.
	apply := func(i uint64, cmd *murphyv1.Command) {
		cmd.At = timestamppb.New(t0.Add(time.Hour))
		if err := f.ApplyCommand(i, cmd); err != nil {
			t.Fatal(err)
		}
	}
	apply(1000, &murphyv1.Command{By: "operator:olga@10.0.0.1:1", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "live-1", Experiment: "checkout", Spec: testSpec(specJSON)}}})
	c := &calls{f: f}
	h := New(Config{NodeID: "n1", FSM: f, Experiments: c, TLS: true, Now: func() time.Time { return t0.Add(time.Hour) },
		Auth: Auth{Token: TokenLookup(map[string]tlsutil.Identity{
			operatorToken: {Role: tlsutil.RoleOperator, Name: "olga"},
			adminToken:    {Role: tlsutil.RoleAdmin, Name: "ada"},
		})}})
	return h, c
}

type client struct {
	cert   *x509.Certificate
	cookie string
}

func (c client) do(h http.Handler, method, path string, form url.Values) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "https://n1.example"+path, body)
	req.RemoteAddr = "192.0.2.7:4242"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://n1.example")
	}
	req.TLS = &tls.ConnectionState{}
	if c.cert != nil {
		req.TLS.VerifiedChains = [][]*x509.Certificate{{c.cert}}
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: tokenCookie, Value: c.cookie})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRoles(t *testing.T) {
	h, calls := securedHandler(t)
	cs := certs(t, "viewer/vera", "worker/w1", "admin/root")
	nobody, vera, worker := client{}, client{cert: cs["viewer/vera"]}, client{cert: cs["worker/w1"]}
	olga, ada, root := client{cookie: operatorToken}, client{cookie: adminToken}, client{cert: cs["admin/root"]}
	halt := url.Values{"reason": {"pager"}, "confirm": {"yes"}}
	tests := []struct {
		name   string
		c      client
		method string
		path   string
		form   url.Values
		code   int
		want   []string
	}{
		{"nobody is asked to sign in", nobody, "GET", "/ui/runs/live-1", nil, 401, []string{"<h1>Sign in</h1>", `<label for="token">Token</label>`, `name="next" value="/ui/runs/live-1"`}},
		{"nobody cannot post", nobody, "POST", "/ui/runs/live-1/halt", halt, 401, []string{"Not signed in"}},
		{"a stale token", client{cookie: "gone-0123456789abcdef"}, "GET", "/ui/", nil, 401, []string{"no longer known to this cluster"}},
		{"a worker certificate may not read", worker, "GET", "/ui/", nil, 403, []string{`Reading these pages needs the viewer, operator or admin role; you are worker &#34;w1&#34; (by certificate)`}},
		{"a viewer reads", vera, "GET", "/ui/runs/live-1", nil, 200, []string{"Run live-1", `viewer “vera” (by certificate)`, `Halt needs the operator or admin role; you are viewer &#34;vera&#34; (by certificate).`}},
		{"a viewer reads the audit trail", vera, "GET", "/ui/audit", nil, 200, []string{"run.submit", "operator:olga"}},
		{"a viewer may not halt", vera, "POST", "/ui/runs/live-1/halt", halt, 403, []string{`Halt needs the operator or admin role; you are viewer &#34;vera&#34; (by certificate)`}},
		{"an operator sees the halt form", olga, "GET", "/ui/runs/live-1", nil, 200, []string{`id="halt"`, `operator “olga” (by token)`, `id="logout"`}},
		{"an operator halts", olga, "POST", "/ui/runs/live-1/halt", halt, 303, nil},
		{"an operator is not offered halt all", olga, "GET", "/ui/cluster", nil, 200, []string{`HaltAll needs the admin role; you are operator &#34;olga&#34; (by token)`}},
		{"an operator may not halt all", olga, "POST", "/ui/cluster/halt-all", halt, 403, []string{`HaltAll needs the admin role; you are operator &#34;olga&#34; (by token)`}},
		{"an operator may not pause schedules", olga, "POST", "/ui/schedules/pause", url.Values{"confirm": {"yes"}}, 403, []string{"PauseSchedules needs the admin role"}},
		{"an admin sees halt all", ada, "GET", "/ui/cluster", nil, 200, []string{`id="halt-all"`}},
		{"pausing asks first", ada, "POST", "/ui/schedules/pause", url.Values{}, 200, []string{`id="confirm-pause-schedules"`}},
		{"an admin pauses schedules", ada, "POST", "/ui/schedules/pause", url.Values{"confirm": {"yes"}}, 303, nil},
		{"an admin halts all", root, "POST", "/ui/cluster/halt-all", halt, 303, nil},
		{"the audit trail names the people", vera, "GET", "/ui/audit", nil, 200, []string{"<td>admin:root</td>", "<td>admin:ada</td>", "<td>operator:olga</td>", "<td>192.0.2.7:4242</td>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.c.do(h, tc.method, tc.path, tc.form)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("lacks %q:\n%s", w, rec.Body.String())
				}
			}
		})
	}
	if code, body := get(t, h, "/ui/audit"); code != 401 || strings.Contains(body, "run.halt") {
		t.Errorf("the audit trail without signing in: %d", code)
	}
	want := "Halt live-1 for operator:olga@192.0.2.7:4242\nPauseSchedules for admin:ada@192.0.2.7:4242\nHaltAll for admin:root@192.0.2.7:4242"
	if got := calls.String(); got != want {
		t.Errorf("calls made:\n%s\nwant:\n%s", got, want)
	}
}

func TestLogin(t *testing.T) {
	h, _ := securedHandler(t)
	rec := client{}.do(h, "POST", "/ui/login", url.Values{"token": {"wrong-0123456789abcdef"}})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "not known to this cluster") || len(rec.Result().Cookies()) != 0 {
		t.Errorf("a wrong token: %d %v", rec.Code, rec.Result().Cookies())
	}
	rec = client{}.do(h, "POST", "/ui/login", url.Values{"token": {operatorToken}, "next": {"/ui/runs/live-1"}})
	cs := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/runs/live-1" || len(cs) != 1 {
		t.Fatalf("sign in: %d %q %v", rec.Code, rec.Header().Get("Location"), cs)
	}
	if c := cs[0]; c.Name != tokenCookie || c.Value != operatorToken || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" {
		t.Errorf("cookie %+v", c)
	}
	if rec := (client{}).do(h, "POST", "/ui/login", url.Values{"token": {operatorToken}, "next": {"//evil.example/"}}); rec.Header().Get("Location") != "/ui/" {
		t.Errorf("sign in sent the browser to %q", rec.Header().Get("Location"))
	}
	rec = client{cookie: operatorToken}.do(h, "POST", "/ui/logout", url.Values{})
	if cs := rec.Result().Cookies(); rec.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("sign out: %d %v", rec.Code, cs)
	}
	// A program sends its token as a bearer token, as to the API.
	req := httptest.NewRequest("GET", "https://n1.example/ui/runs/live-1/report?format=json", nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), `"live-1"`) {
		t.Errorf("a report with a bearer token: %d", rr.Code)
	}
	req.Header.Set("Authorization", "Bearer nope-0123456789abcdef")
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusUnauthorized {
		t.Errorf("a report with an unknown bearer token: %d", rr.Code)
	}
	// A cross-site sign-in (login CSRF) is refused.
	req = httptest.NewRequest("POST", "https://n1.example/ui/login", strings.NewReader("token="+operatorToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", rr.Code)
	}
}

// TestSignInLink: a one-time link signs the browser in with its code's token and is
// spent; a spent or unknown code, or one whose token the tokens file no longer holds,
// gets the sign-in page and no cookie.
func TestSignInLink(t *testing.T) {
	h, _ := securedHandler(t)
	codes := map[string]string{"code-1": adminToken, "code-stale": "dropped-token-0123456789"}
	h.cfg.Auth.Redeem = func(code string) (string, bool) {
		tok, ok := codes[code]
		delete(codes, code)
		return tok, ok
	}
	rec := client{}.do(h, "GET", "/ui/login?code=code-1&next=/ui/runs/live-1", nil)
	cs := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/runs/live-1" || len(cs) != 1 {
		t.Fatalf("sign-in link: %d %q %v", rec.Code, rec.Header().Get("Location"), cs)
	}
	if c := cs[0]; c.Name != tokenCookie || c.Value != adminToken || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v", c)
	}
	if rec := (client{cookie: adminToken}).do(h, "GET", "/ui/", nil); rec.Code != http.StatusOK {
		t.Errorf("the runs page with the link's cookie: %d", rec.Code)
	}
	for _, code := range []string{"code-1", "never-issued", "code-stale"} {
		rec := client{}.do(h, "GET", "/ui/login?code="+code, nil)
		if rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 || !strings.Contains(rec.Body.String(), "has been used already or is not known") {
			t.Errorf("code %s: %d %v", code, rec.Code, rec.Result().Cookies())
		}
	}
}

func TestSchedulesPage(t *testing.T) {
	f := fsm.New()
	at := func(m int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(m) * time.Minute)) }
	for i, cmd := range []*murphyv1.Command{
		{At: at(0), By: "admin:ada@10.0.0.1:1", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "nightly-1", Name: "checkout", Spec: testSpec(specJSON), SpecDigest: "sha256:abcdef0123456789", NextAt: at(10)}}},
		{At: at(10), By: "scheduler", Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "nightly-1", Slot: at(10), RunId: "checkout-s1", Spec: testSpec(specJSON), Day: "2026-03-01", NextAt: at(20)}}},
		{At: at(20), By: "scheduler", Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: &murphyv1.SkipSchedule{ScheduleId: "nightly-1", Slot: at(20), Reason: "outside the windows", NextAt: at(30)}}},
		{At: at(21), By: "admin:ada@10.0.0.1:1", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true}}},
	} {
		if err := f.ApplyCommand(uint64(i+1), cmd); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Config{NodeID: "n1", FSM: f, Auth: Auth{Insecure: true}, Now: func() time.Time { return t0.Add(25 * time.Minute) }})
	code, body := get(t, h, "/ui/schedules")
	if code != http.StatusOK {
		t.Fatal(code)
	}
	for _, w := range []string{`id="paused"`, "nightly-1", "checkout", "<td>paused</td>", `<a href="/ui/runs/checkout-s1">`, "outside the windows", `id="resume-schedules"`, "<td>1</td>"} {
		if !strings.Contains(body, w) {
			t.Errorf("schedules page lacks %q", w)
		}
	}
	_, body = get(t, h, "/ui/audit")
	for _, w := range []string{"4 entries", "schedules.pause", "schedule.skip", "schedule.fire", "schedule.create", "sha256:abcd"} {
		if !strings.Contains(body, w) {
			t.Errorf("audit page lacks %q", w)
		}
	}
	_, rows, _ := strings.Cut(body, "<tbody>")
	if strings.Index(rows, "schedules.pause") > strings.Index(rows, "schedule.create") {
		t.Error("the audit trail is not newest first")
	}
}

// TestSchedulesPageInZone is defect 6 of issue 15 on the page: "last run" is that run's
// slot (not the last decided one), "fired today" counts the schedule's own calendar day,
// times are in its zone, and a paused schedule shows no next slot (it would be past).
func TestSchedulesPageInZone(t *testing.T) {
	f := fsm.New()
	at := func(m int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(m) * time.Minute)) }
	// 12:10Z on 1 March is 01:10 on 2 March in Auckland (NZDT, UTC+13).
	zoned := strings.Replace(specJSON, `"steps"`, `"schedule":{"cron":"*/10 * * * *","timezone":"Pacific/Auckland"},"steps"`, 1)
	for i, cmd := range []*murphyv1.Command{
		{At: at(0), By: "sre", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "nz-1", Name: "checkout", Spec: testSpec(zoned), NextAt: at(10)}}},
		{At: at(10), By: "schedule:nz-1", Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "nz-1", Slot: at(10), RunId: "checkout-s1", Spec: testSpec(specJSON), Day: "2026-03-02", NextAt: at(20)}}},
		{At: at(20), By: "schedule:nz-1", Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: &murphyv1.SkipSchedule{ScheduleId: "nz-1", Slot: at(20), Reason: "the previous run checkout-s1 is still active (overlap: skip)", NextAt: at(30)}}},
		{At: at(21), By: "sre", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true, ScheduleId: "nz-1"}}},
	} {
		if err := f.ApplyCommand(uint64(i+1), cmd); err != nil {
			t.Fatal(err)
		}
	}
	limits := func() []ScheduleLimit {
		return []ScheduleLimit{{What: "scheduled runs active at once", Used: 1, Max: 3}, {What: "fault-minutes on 2026-03-01 (UTC) for service checkout", Used: 12.5, Max: 60}}
	}
	h := New(Config{NodeID: "n1", FSM: f, Auth: Auth{Insecure: true}, Now: func() time.Time { return t0.Add(40 * time.Minute) }, ScheduleLimits: limits})
	_, body := get(t, h, "/ui/schedules")
	if !strings.Contains(body, "scheduled runs active at once: 1 of 3") || !strings.Contains(body, "for service checkout: 12.5 of 60") {
		t.Errorf("the page lacks the fleet-wide limits")
	}
	for _, w := range []string{"(slot 2026-03-02 01:10:00 NZDT)", "<td>1 on 2026-03-02</td>", "<td>paused (this schedule)</td>", "2026-03-02 01:20:00 NZDT: skipped, the previous run checkout-s1 is still active"} {
		if !strings.Contains(body, w) {
			t.Errorf("schedules page lacks %q", w)
		}
	}
	if strings.Contains(body, "01:30:00") {
		t.Error("a paused schedule shows its next slot, now past")
	}
}

// TestActionRolesMatchTheFormerTable: the roles each page action needs, now read from the
// contract's policy, are those the pages' own table granted before, role by role.
func TestActionRolesMatchTheFormerTable(t *testing.T) {
	readers := []string{tlsutil.RoleViewer, tlsutil.RoleOperator, tlsutil.RoleAdmin}
	operators := []string{tlsutil.RoleOperator, tlsutil.RoleAdmin}
	admins := []string{tlsutil.RoleAdmin}
	before := map[Action][]string{
		ActionRead:           readers,
		ActionHaltRun:        operators,
		ActionHaltAll:        admins,
		ActionResume:         admins,
		ActionPauseSchedules: admins,
		// The pages resumed schedules under ActionResume; the call they make,
		// ResumeSchedules, is as privileged.
		ActionResumeSchedules: admins,
		Action("Unknown"):     nil,
	}
	for a, want := range before {
		if got := a.Roles(); !slices.Equal(got, want) {
			t.Errorf("%s: roles %v, before %v", a, got, want)
		}
		for _, role := range append(slices.Clone(tlsutil.Roles), "") {
			u := User{Identity: tlsutil.Identity{Role: role, Name: "x", Via: "certificate"}}
			if got := u.May(a); got != slices.Contains(want, role) {
				t.Errorf("%s may %s: %v, before %v", role, a, got, !got)
			}
		}
	}
}
