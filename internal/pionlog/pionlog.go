// Package pionlog hands pion (WebRTC, TURN) a logger that writes to slog.
//
// Pion is chatty about normal events: it logs per packet at debug, per
// request at info (a refused TURN permission, which anyone can trigger), and
// calls a socket closed at shutdown an error. So its debug, info and
// warnings go to slog's debug, its errors to warn (debug for closed
// sockets), and messages are formatted only when the level is on.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// Factory makes pion loggers writing to log.
type Factory struct{ Log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{log: f.Log.With("pion", scope)}
}

type logger struct{ log *slog.Logger }

func (l logger) emit(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return // before formatting: pion logs per packet
	}
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, "use of closed network connection") {
		level = slog.LevelDebug // pion's "error" for a socket closed at shutdown
	}
	l.log.Log(ctx, level, msg)
}

func (l logger) Trace(string)                      {}
func (l logger) Tracef(string, ...any)             {}
func (l logger) Debug(msg string)                  { l.emit(slog.LevelDebug, "%s", msg) }
func (l logger) Debugf(format string, args ...any) { l.emit(slog.LevelDebug, format, args...) }
func (l logger) Info(msg string)                   { l.emit(slog.LevelDebug, "%s", msg) }
func (l logger) Infof(format string, args ...any)  { l.emit(slog.LevelDebug, format, args...) }
func (l logger) Warn(msg string)                   { l.emit(slog.LevelDebug, "%s", msg) }
func (l logger) Warnf(format string, args ...any)  { l.emit(slog.LevelDebug, format, args...) }
func (l logger) Error(msg string)                  { l.emit(slog.LevelWarn, "%s", msg) }
func (l logger) Errorf(format string, args ...any) { l.emit(slog.LevelWarn, format, args...) }
