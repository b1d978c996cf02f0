package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/riskd/riskd/internal/auth"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
)

// The call log: one JSON line per call, written by go-grpc-middleware's
// logging interceptor with gRPC's own fields, to which riskd adds who
// called and what was decided. The logging interceptor builds its line
// before the handler runs and writes it after, from the context it made
// first, so what the handler learns travels in a note put in the context
// ahead of it (noteInterceptor) and filled behind authentication and the
// handler (fillInterceptor). Never personal data: the caller's configured
// name, the check, outcome, score, reason codes and decision ID.

// CallLog says which successful calls are logged; refused, failed and
// slow calls always are.
type CallLog struct {
	// OKEvery logs one successful call in this many: 1 logs them all, 0
	// none.
	OKEvery int
	// Slow is the duration from which a successful call is logged at warn
	// whatever OKEvery says; 0 never counts a call slow.
	Slow time.Duration
}

// callNote is what one call's log line adds to gRPC's fields.
type callNote struct {
	start    time.Time
	caller   string
	decision *riskv1.Decision
}

type callNoteKey struct{}

// noteInterceptor, ahead of the logging interceptor, gives the call its
// note. Its start is the wall clock's, not the server's business clock: a
// duration, measured where no panic handler yet stands.
func noteInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(context.WithValue(ctx, callNoteKey{}, &callNote{start: time.Now()}), req)
}

// noteStreamInterceptor is noteInterceptor for streams.
func noteStreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, withContext(ss, context.WithValue(ss.Context(), callNoteKey{}, &callNote{start: time.Now()})))
}

// fillStreamInterceptor is fillInterceptor for streams: the caller.
func fillStreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if n, ok := ss.Context().Value(callNoteKey{}).(*callNote); ok {
		if id, ok := auth.FromContext(ss.Context()); ok {
			n.caller = id.Name
		}
	}
	return handler(srv, ss)
}

// decided is every response that carries a decision.
type decided interface{ GetDecision() *riskv1.Decision }

// fillInterceptor, behind authentication, fills the note with the caller
// and, once the handler has answered, its decision.
func fillInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if n, ok := ctx.Value(callNoteKey{}).(*callNote); ok {
		if id, ok := auth.FromContext(ctx); ok {
			n.caller = id.Name
		}
		if d, ok := resp.(decided); ok && err == nil {
			n.decision = d.GetDecision()
		}
	}
	return resp, err
}

// callLogger writes the logging interceptor's lines through slog, adding
// the note's fields. It drops the line of a shed call (shedErrorFields):
// the shedder logs those, sampled. Successful calls are sampled as
// CallLog says, unless slow.
//
// The line is built as slog attributes, not as the interceptor's
// key-value `any`s: a string or a number in an `any` is an allocation, in
// a slog.Value it is none, and this runs on every call.
func callLogger(l *slog.Logger, o CallLog) logging.Logger {
	var ok atomic.Uint64
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		for i := 0; i < len(fields); i += 2 {
			if fields[i] == shedLogField {
				return
			}
		}
		n, _ := ctx.Value(callNoteKey{}).(*callNote)
		slow := false
		if lvl == logging.LevelInfo {
			slow = n != nil && o.Slow > 0 && time.Since(n.start) >= o.Slow
			switch {
			case slow:
				lvl = logging.LevelWarn
			case o.OKEvery <= 0:
				return
			case o.OKEvery > 1 && (ok.Add(1)-1)%uint64(o.OKEvery) != 0:
				return
			}
		}
		var buf [24]slog.Attr
		attrs := buf[:0]
		for i := 0; i+1 < len(fields); i += 2 {
			if k, isString := fields[i].(string); isString {
				attrs = append(attrs, slog.Any(k, fields[i+1]))
			}
		}
		if slow {
			attrs = append(attrs, slog.Bool("slow", true))
		}
		if n != nil {
			if n.caller != "" {
				attrs = append(attrs, slog.String("caller", n.caller))
			}
			if d := n.decision; d != nil {
				attrs = append(attrs, slog.String("check", d.GetCheck().String()), slog.String("outcome", d.GetOutcome().String()),
					slog.Int("score", int(d.GetScore())), slog.Any("reasons", reasonCodes(d)), slog.String("decision_id", d.GetDecisionId()))
			}
		}
		l.LogAttrs(ctx, slog.Level(lvl), msg, attrs...)
	})
}

// reasonCodes are a decision's reason codes, for the log: codes, never
// the sentences (which may quote a rule's message).
func reasonCodes(d *riskv1.Decision) []string {
	out := make([]string, len(d.GetReasons()))
	for i, r := range d.GetReasons() {
		out[i] = r.GetCode()
	}
	return out
}
