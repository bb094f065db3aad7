package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/murphy-chaos/murphy/coordinator/policy"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
)

// Action is something a page can ask the cluster to do, named as the API call it makes,
// so a refusal reads the same on the page as on the command line.
type Action string

// Actions. Each but ActionRead is the ExperimentService method the page calls, and needs
// the roles that method's policy in the contract admits.
const (
	ActionRead            Action = "Read"
	ActionHaltRun         Action = "Halt"
	ActionHaltAll         Action = "HaltAll"
	ActionResume          Action = "Resume"
	ActionPauseSchedules  Action = "PauseSchedules"
	ActionResumeSchedules Action = "ResumeSchedules"
)

// readCalls are the calls whose answers the pages show, read from this node's own state
// instead of calling them; reading the pages needs the roles that may make every one.
var readCalls = []string{
	"/murphy.v1.ExperimentService/GetRun",
	"/murphy.v1.ExperimentService/ListRuns",
	"/murphy.v1.ExperimentService/GetVerdict",
	"/murphy.v1.ExperimentService/Watch",
	"/murphy.v1.ExperimentService/ListSchedules",
	"/murphy.v1.ClusterService/Status",
	"/murphy.v1.ClusterService/ListWorkers",
	"/murphy.v1.ClusterService/ListAudit",
}

// actionRoles is built once from the policy. Coordinators are left out: their role lets
// a peer forward a caller's API call, and no peer signs in to the pages.
var actionRoles = sync.OnceValue(func() map[Action][]string {
	tbl := policy.Murphy()
	people := func(roles []string) []string {
		return slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == tlsutil.RoleCoordinator })
	}
	read := tlsutil.Roles
	for _, m := range readCalls {
		r, _ := tbl.Rule(m)
		read = slices.DeleteFunc(slices.Clone(read), func(role string) bool { return !r.Allows(role) })
	}
	out := map[Action][]string{ActionRead: people(read)}
	for _, a := range []Action{ActionHaltRun, ActionHaltAll, ActionResume, ActionPauseSchedules, ActionResumeSchedules} {
		r, _ := tbl.Rule("/murphy.v1.ExperimentService/" + string(a))
		out[a] = people(r.Roles)
	}
	return out
})

// Roles returns the roles that may perform a; none for an action the pages do not know.
func (a Action) Roles() []string { return actionRoles()[a] }

// User is who a browser proved to be: a client certificate, a token login, or anyone at
// all when the coordinator runs with --insecure.
type User struct {
	tlsutil.Identity
	// Remote is the address the request came from, for the audit trail.
	Remote string
}

// Insecure reports whether the user is the anonymous admin of a node without TLS.
func (u User) Insecure() bool { return u.Via == "insecure" }

// May reports whether the user may perform a.
func (u User) May(a Action) bool { return slices.Contains(a.Roles(), u.Role) }

// Caller is the user as the audit trail records callers: "role:name@address".
func (u User) Caller() string { return u.Role + ":" + u.Name + "@" + u.Remote }

// Refusal says, in the API's words, why the user may not perform a.
func (u User) Refusal(a Action) string {
	what := string(a)
	if a == ActionRead {
		what = "Reading these pages"
	}
	return fmt.Sprintf("%s needs the %s role; you are %s %q (by %s)", what, either(a.Roles()), u.Role, u.Name, u.Via)
}

// either joins roles as "a, b or c".
func either(roles []string) string {
	if len(roles) < 2 {
		return strings.Join(roles, "")
	}
	return strings.Join(roles[:len(roles)-1], ", ") + " or " + roles[len(roles)-1]
}

// Auth says how the pages learn who is asking.
type Auth struct {
	// Insecure: the node has no TLS; every visitor is an admin and every page says so.
	Insecure bool
	// Token resolves a bearer token of the coordinator's tokens file; nil when the node
	// has none, and the login form then says so.
	Token func(token string) (tlsutil.Identity, bool)
	// Redeem consumes a one-time sign-in code (GET /ui/login?code=...) and returns the
	// token it stands for; nil when the node issues none. A code works once, so a
	// sign-in link printed to a terminal or kept in a browser's history signs nobody
	// in a second time.
	Redeem func(code string) (token string, ok bool)
}

// TokenLookup returns a Token function over a fixed list, comparing in constant time.
func TokenLookup(tokens map[string]tlsutil.Identity) func(string) (tlsutil.Identity, bool) {
	return func(tok string) (tlsutil.Identity, bool) {
		var found tlsutil.Identity
		ok := false
		for t, id := range tokens {
			if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
				found, ok = id, true
			}
		}
		return found, ok
	}
}

// tokenCookie holds a token login. The token itself is the session: nothing is stored on
// the server, and it is checked against the tokens file on every request.
const tokenCookie = "murphy_token"

type userKey struct{}

// userFrom returns the user the request was authenticated as.
func userFrom(r *http.Request) User {
	u, _ := r.Context().Value(userKey{}).(User)
	return u
}

// WithCaller and CallerFrom carry the web user's "role:name@address" into the gRPC calls
// the pages make, so the node can put it on the record as the original caller.
type callerKey struct{}

// CallerFrom returns the audit identity of the web user a call is made for, if any.
func CallerFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(callerKey{}).(string)
	return s, ok
}

func withCaller(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, callerKey{}, u.Caller())
}

// errNoUser means the request proved no identity: no client certificate, no login.
var errNoUser = fmt.Errorf("no client certificate and not signed in")

// identify establishes who is asking: the verified client certificate, else a bearer
// token, else the token cookie, else nobody. Without TLS everyone is an admin.
func (h *Handler) identify(r *http.Request) (User, error) {
	u := User{Remote: r.RemoteAddr}
	if h.cfg.Auth.Insecure {
		u.Identity = tlsutil.Identity{Role: tlsutil.RoleAdmin, Name: "anonymous", Via: "insecure"}
		return u, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		id, err := tlsutil.IdentityOf(r.TLS.VerifiedChains[0][0])
		if err != nil {
			return u, err
		}
		u.Identity = id
		return u, nil
	}
	// A program (murphy report) may send its token as the API takes it; a browser never
	// sends this header by itself, so it cannot be forged across sites.
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") && h.cfg.Auth.Token != nil {
		if id, ok := h.cfg.Auth.Token(strings.TrimPrefix(auth, "Bearer ")); ok {
			id.Via = "token"
			u.Identity = id
			return u, nil
		}
		return u, fmt.Errorf("the bearer token is not known to this cluster")
	}
	if c, err := r.Cookie(tokenCookie); err == nil && c.Value != "" && h.cfg.Auth.Token != nil {
		if id, ok := h.cfg.Auth.Token(c.Value); ok {
			id.Via = "token"
			u.Identity = id
			return u, nil
		}
		return u, fmt.Errorf("the token you signed in with is no longer known to this cluster; sign in again")
	}
	return u, errNoUser
}

// sameOrigin refuses cross-site form posts: a page elsewhere must not be able to halt
// runs through an operator's browser.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != "http://"+r.Host && o != "https://"+r.Host {
		return false
	}
	return true
}

// ---- login ----

type loginPage struct {
	Page
	Error  string
	Tokens bool
	Next   string // where to go after signing in
}

// safeNext returns a local page to return to after signing in, or /ui/.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") || strings.HasPrefix(next, "/ui/log") {
		return "/ui/"
	}
	return next
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Auth.Insecure {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	if code := r.URL.Query().Get("code"); code != "" {
		h.redeem(w, r, code)
		return
	}
	p := h.loginPage(r, "")
	p.Next = safeNext(r.URL.Query().Get("next"))
	h.render(w, "login.html", p)
}

func (h *Handler) loginPage(r *http.Request, msg string) loginPage {
	p := loginPage{Page: h.chrome(r, "Sign in", ""), Error: msg, Tokens: h.cfg.Auth.Token != nil, Next: safeNext(r.PostFormValue("next"))}
	if u, err := h.identify(r); err == nil {
		p.User = &u
	}
	return p
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Auth.Insecure {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	if !sameOrigin(r) {
		h.fail(w, r, http.StatusForbidden, "Refused", "This form must be sent from this coordinator's own pages.")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if h.cfg.Auth.Token == nil {
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, "login.html", h.loginPage(r, "This cluster has no tokens file (coordinator --tokens); sign in with a client certificate."))
		return
	}
	if _, ok := h.cfg.Auth.Token(tok); !ok || tok == "" {
		h.log.Warn("web sign-in refused", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, "login.html", h.loginPage(r, "The token is not known to this cluster."))
		return
	}
	setTokenCookie(w, tok)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// redeem signs the browser in with a one-time link: the code's token becomes the token
// cookie, as if it had been typed into the form, and the code is spent.
func (h *Handler) redeem(w http.ResponseWriter, r *http.Request, code string) {
	tok, ok := "", false
	if h.cfg.Auth.Redeem != nil {
		tok, ok = h.cfg.Auth.Redeem(code)
	}
	if ok && h.cfg.Auth.Token != nil {
		_, ok = h.cfg.Auth.Token(tok)
	}
	if !ok {
		h.log.Warn("web sign-in link refused", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, "login.html", h.loginPage(r, "This sign-in link has been used already or is not known to this coordinator. Sign in with a token, or ask for a new link (murphy dev prints one when it starts)."))
		return
	}
	setTokenCookie(w, tok)
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

func setTokenCookie(w http.ResponseWriter, tok string) {
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: tok, Path: "/ui/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		h.fail(w, r, http.StatusForbidden, "Refused", "This form must be sent from this coordinator's own pages.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: "", Path: "/ui/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// ServeHTTP authenticates every request but the sign-in pages, requires the viewer role
// to read, and hands the request on with the user in its context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ui/login", "/ui/logout":
		h.mux.ServeHTTP(w, r)
		return
	}
	u, err := h.identify(r)
	if err != nil {
		if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
			msg := ""
			if err != errNoUser {
				msg = err.Error()
			}
			p := h.loginPage(r, msg)
			p.Next = safeNext(r.URL.RequestURI())
			w.WriteHeader(http.StatusUnauthorized)
			h.render(w, "login.html", p)
			return
		}
		h.fail(w, r, http.StatusUnauthorized, "Not signed in", "Present a client certificate or sign in with a token at /ui/login: "+err.Error()+".")
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
	if !u.May(ActionRead) {
		h.fail(w, r, http.StatusForbidden, "Not allowed", u.Refusal(ActionRead)+".")
		return
	}
	h.mux.ServeHTTP(w, r)
}
