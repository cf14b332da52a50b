package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// OpsOptions configures NewOps.
type OpsOptions struct {
	// Ready reports whether the process can do its work (Redis answers, providers are configured);
	// nil means always ready. It gets a context bounded by ReadyTimeout. Its error goes to the log
	// only; /readyz shows the Reason of a *NotReady and a generic reason otherwise, so a probe never
	// reads a raw Redis error.
	Ready func(context.Context) error
	// Warnings, when set, lists what an operator should fix that does not make the process unready
	// (Redis's maxmemory-policy); /readyz shows them while the process is ready.
	Warnings func(context.Context) []string
	// ReadyTimeout bounds one readiness check (default 1s, a kubelet's default probe timeout).
	ReadyTimeout time.Duration
	// Metrics serves /metrics (metrics.Metrics.Handler); nil leaves it out.
	Metrics http.Handler
	// Monitor serves the dashboard under /monitor/ (asynqmon). It is served only behind Operators:
	// with no operator credential it is left out, whatever Monitor is.
	Monitor   http.Handler
	Operators Operators
	// Logger receives failed readiness checks with their error id (default: discarded).
	Logger *slog.Logger
}

// Ops is the operations endpoints every long-running reaper process serves on admin.listen: /healthz,
// /readyz, /metrics (no token: for kubelets and Prometheus) and the dashboard (operators only).
type Ops struct {
	o    OpsOptions
	gate *operatorGate
}

// NewOps builds the operations endpoints.
func NewOps(o OpsOptions) *Ops {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ops{o: o, gate: newOperatorGate(o.Operators)}
}

// MonitorServed reports whether the dashboard is served: a Monitor and at least one operator credential.
func (a *Ops) MonitorServed() bool { return a.o.Monitor != nil && a.gate != nil }

func (a *Ops) routes() []route {
	rs := []route{
		{"GET /healthz", false, Healthz},
		{"GET /readyz", false, a.readyz},
	}
	if a.o.Metrics != nil {
		rs = append(rs, route{"GET /metrics", false, a.o.Metrics.ServeHTTP})
	}
	if a.MonitorServed() {
		rs = append(rs, route{"/monitor/", false, a.gate.require(a.o.Monitor).ServeHTTP})
	}
	return rs
}

// Register adds the admin routes to mux.
func (a *Ops) Register(mux *http.ServeMux) {
	for _, r := range a.routes() {
		mux.Handle(r.pattern, r.handler)
	}
}

// Patterns lists the ServeMux patterns Register adds.
func (a *Ops) Patterns() []string { return patterns(a.routes()) }

// Healthz answers 200 while the process runs: a liveness probe restarts a process that stops
// answering. It says nothing else, so any port may serve it.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// ReadyStatus is /readyz's JSON.
type ReadyStatus struct {
	Status string `json:"status"` // "ready" or "unavailable"
	// Error is why the process is not ready, without the underlying error, which is logged under ErrorID.
	Error    string   `json:"error,omitempty"`
	ErrorID  string   `json:"error_id,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// NotReady is a readiness failure whose Reason is fit for whoever probes; Err, the cause (a Redis
// error, say), goes only to the log.
type NotReady struct {
	Reason string
	Err    error
}

func (e *NotReady) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *NotReady) Unwrap() error { return e.Err }

// readyz answers 200 when Ready passes and 503 with the reason otherwise, so a readiness probe takes
// a process that lost Redis out of service without restarting it.
func (a *Ops) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.o.ReadyTimeout)
	defer cancel()
	if a.o.Ready != nil {
		if err := a.o.Ready(ctx); err != nil {
			st := ReadyStatus{Status: "unavailable", Error: "not ready", ErrorID: newErrorID()}
			var nr *NotReady
			if errors.As(err, &nr) {
				st.Error = nr.Reason
			}
			noteErrorID(r.Context(), st.ErrorID)
			a.o.Logger.Warn("not ready", "error_id", st.ErrorID, "error", err)
			writeJSON(w, http.StatusServiceUnavailable, st)
			return
		}
	}
	st := ReadyStatus{Status: "ready"}
	if a.o.Warnings != nil {
		st.Warnings = a.o.Warnings(ctx)
	}
	writeJSON(w, http.StatusOK, st)
}
