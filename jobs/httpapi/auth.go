package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// tokenSet holds the accepted bearer tokens as SHA-256 digests: comparing digests of equal length
// keeps the comparison constant-time even across tokens of different lengths.
type tokenSet struct {
	digests [][sha256.Size]byte
}

func newTokenSet(tokens []string) (tokenSet, error) {
	var s tokenSet
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			s.digests = append(s.digests, sha256.Sum256([]byte(t)))
		}
	}
	if len(s.digests) == 0 {
		return s, errors.New("httpapi: no API token configured: set REAPER_API_TOKENS or api.tokens_file")
	}
	return s, nil
}

// match compares the presented token with every accepted one, all of them every time, so the time
// taken says nothing about which token (or how much of one) matched.
func (s tokenSet) match(token string) bool {
	d := sha256.Sum256([]byte(token))
	found := 0
	for i := range s.digests {
		found |= subtle.ConstantTimeCompare(d[:], s.digests[i][:])
	}
	return found == 1
}

// require lets a request through only with "Authorization: Bearer <token>" naming an accepted token.
// The token itself is never logged or echoed; the request log names the client by a fingerprint.
func (s tokenSet) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reaper"`)
			writeError(w, http.StatusUnauthorized, ErrorBody{Error: "missing bearer token: send Authorization: Bearer <token>"})
			return
		}
		if !s.match(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reaper", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, ErrorBody{Error: "invalid bearer token"})
			return
		}
		client := Fingerprint(token)
		noteClient(r.Context(), client)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, client)))
	})
}

// Fingerprint names a token without revealing it: "sha256:" and the first 8 hex digits of its digest.
// Batches submitted without submitted_by record "api:<fingerprint>", and the request log carries it,
// so an operator can tell clients apart and match one to its token.
func Fingerprint(token string) string {
	d := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(d[:4])
}

type clientKey struct{}

func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}
