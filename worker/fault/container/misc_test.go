package container

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

var (
	startOpts = client.ContainerStartOptions{}
	stopOpts  = client.ContainerStopOptions{Timeout: new(5)}
)

func equal(a, b map[string]string) bool { return maps.Equal(a, b) }

func itoa(n int) string { return strconv.Itoa(n) }

// TestDial needs no engine: an absent socket means "no container kinds", a malformed host
// is a configuration error.
func TestDial(t *testing.T) {
	_, err := Dial(context.Background(), "unix:///nonexistent/murphy/docker.sock")
	if !errors.Is(err, ErrNoEngine) {
		t.Errorf("absent socket: got %v, want ErrNoEngine", err)
	}
	_, err = Dial(context.Background(), "bogus://host")
	if err == nil || errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "docker host") {
		t.Errorf("malformed host: got %v, want a configuration error", err)
	}
}

func TestSignalNames(t *testing.T) {
	for in, want := range map[string]string{"": "SIGKILL", "kill": "SIGKILL", "SIGTERM": "SIGTERM", "usr1": "SIGUSR1", "9": "9"} {
		params := map[string]string{"name": "x", "signal": in}
		if in == "" {
			delete(params, "signal") // the default
		}
		if got := catalogue.MustDecode(KindKill, params).(catalogue.Container).Signal; got != want {
			t.Errorf("signal(%q) = %q, want %q", in, got, want)
		}
	}
}
