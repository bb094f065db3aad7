package coordinator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// signInTTL bounds how long an unused sign-in link works.
const signInTTL = time.Hour

// signInCodes are this node's one-time sign-in links: a random code stands for a token
// of the tokens file until a browser redeems it once. They live in this node's memory
// only, not in Raft: a link names the node that issued it.
type signInCodes struct {
	mu    sync.Mutex
	codes map[string]signInCode
}

type signInCode struct {
	token   string
	expires time.Time
}

func (c *signInCodes) issue(token string, now time.Time) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	code := hex.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[string]signInCode{}
	}
	for k, v := range c.codes {
		if now.After(v.expires) {
			delete(c.codes, k)
		}
	}
	c.codes[code] = signInCode{token: token, expires: now.Add(signInTTL)}
	return code, nil
}

// redeem spends code and returns its token. Map lookup by the code itself is fine: the
// code is 192 random bits, so timing reveals nothing an attacker could build on.
func (c *signInCodes) redeem(code string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.codes[code]
	delete(c.codes, code)
	if !ok || time.Now().After(v.expires) {
		return "", false
	}
	return v.token, true
}

// ErrNoSignIn means a sign-in link cannot be made: the node serves no pages, or the
// token is not in its tokens file.
var ErrNoSignIn = errors.New("coordinator: no sign-in link")

// SignInURL returns a link to this node's pages that signs a browser in once, as the
// holder of token (which must be in the node's tokens file), without a client
// certificate; it works for an hour. Without TLS the pages need no sign-in and the
// link is the runs page itself.
func (s *Server) SignInURL(token string) (string, error) {
	if s.httpLis == nil {
		return "", fmt.Errorf("%w: this node serves no HTTP (--http-addr)", ErrNoSignIn)
	}
	if s.cfg.TLS == nil {
		return "http://" + s.HTTPAddr() + "/ui/", nil
	}
	if _, known := s.tokenIdentity(token); !known {
		return "", fmt.Errorf("%w: the token is not in this node's tokens file (--tokens)", ErrNoSignIn)
	}
	code, err := s.signIn.issue(token, time.Now())
	if err != nil {
		return "", fmt.Errorf("sign-in link: %w", err)
	}
	return "https://" + s.HTTPAddr() + "/ui/login?" + url.Values{"code": {code}}.Encode(), nil
}
