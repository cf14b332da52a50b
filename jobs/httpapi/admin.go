package httpapi

import (
	"context"
	"net/http"
	"time"
)

// AdminOptions configures NewAdmin.
type AdminOptions struct {
	// Ready reports whether the process can do its work (Redis answers, providers are configured);
	// nil means always ready. It gets a context bounded by ReadyTimeout.
	Ready func(context.Context) error
	// ReadyTimeout bounds one readiness check (default 1s, a kubelet's default probe timeout).
	ReadyTimeout time.Duration
	// Metrics serves /metrics (metrics.Metrics.Handler); nil leaves it out.
	Metrics http.Handler
	// Monitor serves the dashboard under /monitor/ (asynqmon); nil leaves it out.
	Monitor http.Handler
}

// Admin is the admin endpoints every long-running reaper process serves: /healthz, /readyz,
// /metrics and the dashboard. They carry no token: serve them on an address only operators and
// Prometheus reach (admin.listen).
type Admin struct{ o AdminOptions }

// NewAdmin builds the admin endpoints.
func NewAdmin(o AdminOptions) *Admin {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = time.Second
	}
	return &Admin{o: o}
}

func (a *Admin) routes() []route {
	rs := []route{
		{"GET /healthz", false, healthz},
		{"GET /readyz", false, a.readyz},
	}
	if a.o.Metrics != nil {
		rs = append(rs, route{"GET /metrics", false, a.o.Metrics.ServeHTTP})
	}
	if a.o.Monitor != nil {
		rs = append(rs, route{"/monitor/", false, a.o.Monitor.ServeHTTP})
	}
	return rs
}

// Register adds the admin routes to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	for _, r := range a.routes() {
		mux.Handle(r.pattern, r.handler)
	}
}

// Patterns lists the ServeMux patterns Register adds.
func (a *Admin) Patterns() []string { return patterns(a.routes()) }

// healthz answers 200 while the process runs: a liveness probe restarts a process that stops answering.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// ReadyStatus is /readyz's JSON.
type ReadyStatus struct {
	Status string `json:"status"` // "ready" or "unavailable"
	Error  string `json:"error,omitempty"`
}

// readyz answers 200 when Ready passes and 503 with the reason otherwise, so a readiness probe takes
// a process that lost Redis out of service without restarting it.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	if a.o.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), a.o.ReadyTimeout)
		defer cancel()
		if err := a.o.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, ReadyStatus{Status: "unavailable", Error: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, ReadyStatus{Status: "ready"})
}
