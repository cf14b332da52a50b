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

// Operators are the credentials that open the dashboard (/monitor/ on admin.listen): any of the API's
// bearer tokens, and one basic-auth user and password (a browser asks for them). With neither the
// dashboard is not served at all.
type Operators struct {
	// Tokens are the API's bearer tokens (REAPER_API_TOKENS, api.tokens_file).
	Tokens []string
	// User and Password are the basic-auth credentials (REAPER_ADMIN_USER, REAPER_ADMIN_PASSWORD);
	// both or neither.
	User, Password string
}

// operatorGate checks Operators in constant time, like tokenSet.
type operatorGate struct {
	tokens tokenSet
	basic  *[sha256.Size]byte // digest of "user:password"; nil without basic auth
}

// newOperatorGate returns nil when o holds no credential: nothing may then be served behind it.
func newOperatorGate(o Operators) *operatorGate {
	g := &operatorGate{}
	g.tokens, _ = newTokenSet(o.Tokens)
	if o.User != "" && o.Password != "" {
		d := sha256.Sum256([]byte(o.User + ":" + o.Password))
		g.basic = &d
	}
	if len(g.tokens.digests) == 0 && g.basic == nil {
		return nil
	}
	return g
}

// require lets a request through with an accepted bearer token or the basic-auth credentials.
func (g *operatorGate) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(auth, " ")
		token = strings.TrimSpace(token)
		ok := false
		switch {
		case strings.EqualFold(scheme, "Bearer") && token != "" && len(g.tokens.digests) > 0:
			ok = g.tokens.match(token)
			if ok {
				noteClient(r.Context(), Fingerprint(token))
			}
		case g.basic != nil:
			if user, pass, isBasic := r.BasicAuth(); isBasic {
				d := sha256.Sum256([]byte(user + ":" + pass))
				ok = subtle.ConstantTimeCompare(d[:], g.basic[:]) == 1
			}
		}
		if !ok {
			if g.basic != nil {
				w.Header().Add("WWW-Authenticate", `Basic realm="reaper dashboard", charset="UTF-8"`)
			}
			if len(g.tokens.digests) > 0 {
				w.Header().Add("WWW-Authenticate", `Bearer realm="reaper"`)
			}
			writeError(w, http.StatusUnauthorized, ErrorBody{Error: "the dashboard needs an API bearer token or the admin user and password"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
