// Package logging is Murphy's shared logging plumbing: slog handlers for the binary and
// an adapter that routes hashicorp/raft's hclog output into slog, so every line of a
// coordinator's log has the same shape and a component attribute.
package logging

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// New returns a text logger at level writing to w.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Discard is a logger that drops everything (tests).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Hclog adapts an slog.Logger to hclog.Logger. Raft is chatty at info level about routine
// elections; minLevel lets the coordinator raise the floor without losing warnings.
func Hclog(l *slog.Logger, name string, minLevel hclog.Level) hclog.Logger {
	a := &hclogAdapter{l: l, name: name}
	a.level.Store(int32(minLevel))
	return a
}

type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any
	level atomic.Int32
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level < hclog.Level(a.level.Load()) && level != hclog.NoLevel {
		return
	}
	all := append(append([]any{"component", a.name}, a.args...), args...)
	a.l.Log(context.Background(), toSlog(level), msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool                 { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool                  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool                  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool                 { return a.enabled(hclog.Error) }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.args }
func (a *hclogAdapter) Name() string                  { return a.name }
func (a *hclogAdapter) SetLevel(level hclog.Level)    { a.level.Store(int32(level)) }
func (a *hclogAdapter) GetLevel() hclog.Level         { return hclog.Level(a.level.Load()) }

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return level >= hclog.Level(a.level.Load()) && a.l.Enabled(context.Background(), toSlog(level))
}

func (a *hclogAdapter) clone() *hclogAdapter {
	b := &hclogAdapter{l: a.l, name: a.name, args: append([]any(nil), a.args...)}
	b.level.Store(a.level.Load())
	return b
}

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := a.clone()
	b.args = append(b.args, args...)
	return b
}

func (a *hclogAdapter) Named(name string) hclog.Logger {
	b := a.clone()
	b.name = a.name + "." + name
	return b
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := a.clone()
	b.name = name
	return b
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
