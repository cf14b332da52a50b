package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// An internal failure (Redis unreachable, a script error) is answered 500 with a generic message and
// an error id; the error itself goes to the log under that id. Redis errors name keys, addresses and
// commands, none of which a client of the API needs to see.

// newErrorID names one logged failure: 16 hex digits, random.
func newErrorID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// internalMessage is what a client reads instead of the error.
func internalMessage(id string) string {
	return "internal error; the server log has its cause under error_id " + id
}

// serverError logs err under a new error id and answers 500 with body, whose Error (when set) says
// what was being done; the error id is added to both.
func serverError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error, body ErrorBody) {
	id := newErrorID()
	noteErrorID(r.Context(), id)
	log.Error("internal error", "error_id", id, "method", r.Method, "path", r.URL.Path, "error", err)
	if body.Error == "" {
		body.Error = internalMessage(id)
	} else {
		body.Error += ": " + internalMessage(id)
	}
	body.ErrorID = id
	writeError(w, http.StatusInternalServerError, body)
}
