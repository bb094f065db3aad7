package spec

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds of what an HTTP probe sends, every interval from every worker.
const (
	MaxProbeHeaders     = 64
	MaxProbeHeaderValue = 8 << 10 // what common servers accept in one header
	MaxProbeBody        = 64 << 10
)

// CheckHeader returns why an HTTP probe cannot send the header, or "" when it can. The
// rules are net/http's: a name is a token, a value holds no control character but tab.
func CheckHeader(name, value string) string {
	if !validHeaderName(name) {
		return fmt.Sprintf("%q is not a valid header name; use letters, digits and !#$%%&'*+-.^_`|~", name)
	}
	switch http.CanonicalHeaderKey(name) {
	case "Content-Length", "Transfer-Encoding", "Trailer":
		return "Murphy sets Content-Length, Transfer-Encoding and Trailer from the body; leave it out"
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return "must not hold control characters such as line breaks"
		}
	}
	if len(value) > MaxProbeHeaderValue {
		return fmt.Sprintf("is %d bytes; the limit is %d", len(value), MaxProbeHeaderValue)
	}
	return ""
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// headers reads an HTTP probe's headers. Names are case-insensitive, so two spellings of
// one name are one header given twice.
func (w *walker) headers(n *yaml.Node, at loc) map[string]string {
	h, ok := w.stringMap(n, at, false)
	if !ok {
		return nil
	}
	if len(h) > MaxProbeHeaders {
		w.addf(at, "at most %d headers, got %d", MaxProbeHeaders, len(h))
		return nil
	}
	first := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		ck := http.CanonicalHeaderKey(k)
		if msg := CheckHeader(k, h[k]); msg != "" {
			w.addf(keyLoc(n, at, k), "%s", msg)
			delete(h, k)
		} else if prev, dup := first[ck]; dup {
			w.addf(keyLoc(n, at, k), "the same header as %q (header names are case-insensitive)", prev)
			delete(h, k)
		} else {
			first[ck] = k
		}
	}
	if len(h) == 0 {
		return nil
	}
	return h
}
