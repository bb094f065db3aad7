// Package action implements instantaneous actions a worker performs once and has nothing
// to revert: http.call, one HTTP request whose answer must carry an accepted status. They
// are what Chaos Toolkit calls actions (an HTTP call that changes something), and they
// also serve as rollback steps.
package action
