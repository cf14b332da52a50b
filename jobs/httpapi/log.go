package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// LogRequests logs one line per request to log: method, path, status, bytes, duration, the client's
// token fingerprint and the batch id when the request named or created one. Headers and query strings
// are never logged (they may carry a token or a note). Probes and scrapes (/healthz, /readyz,
// /metrics) log at debug level unless they fail, so a kubelet polling every five seconds does not
// drown the log.
func LogRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		completed := false
		defer func() {
			// Deferred so a handler that aborts (panic(http.ErrAbortHandler)) is logged too; the
			// panic is not recovered: it carries on to net/http, which drops the connection.
			aborted := !completed
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelInfo
			switch {
			case aborted || status >= 500:
				level = slog.LevelError
			case quiet(r.URL.Path) && status < 400:
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Int64("bytes", rec.bytes), slog.Duration("duration", time.Since(start)),
				slog.String("remote", r.RemoteAddr),
			}
			info.mu.Lock()
			if info.client != "" {
				attrs = append(attrs, slog.String("client", info.client))
			}
			if info.batch != "" {
				attrs = append(attrs, slog.String("batch_id", info.batch))
			}
			if info.errorID != "" {
				attrs = append(attrs, slog.String("error_id", info.errorID))
			}
			info.mu.Unlock()
			if aborted {
				attrs = append(attrs, slog.Bool("aborted", true))
			}
			log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		completed = true
	})
}

func quiet(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics" || strings.HasPrefix(path, "/monitor/")
}

// requestInfo is what handlers learn about a request for its log line.
type requestInfo struct {
	mu                     sync.Mutex
	batch, client, errorID string
}

type infoKey struct{}

func noteBatch(ctx context.Context, id string) {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok && id != "" {
		info.mu.Lock()
		info.batch = id
		info.mu.Unlock()
	}
}

// noteErrorID puts the id of a logged internal error on the request's log line too.
func noteErrorID(ctx context.Context, id string) {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.errorID = id
		info.mu.Unlock()
	}
}

func noteClient(ctx context.Context, client string) {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.client = client
		info.mu.Unlock()
	}
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes flushes through, for handlers that stream (asynqmon, reports).
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, body ErrorBody) { writeJSON(w, status, body) }
