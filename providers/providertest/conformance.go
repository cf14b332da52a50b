// Package providertest is the conformance suite every provider client passes against its fake, the way
// rclone's fstests hold every backend to the same checks. A provider's test file builds a Harness and
// calls Run; the suite never branches on the provider's name.
package providertest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// Credentials selects which credentials NewClient gives the client.
type Credentials int

// The credential sets.
const (
	Valid   Credentials = iota // the ones the fake accepts
	Invalid                    // well-formed but wrong: the fake must reject them as the service would
)

// CodeCase is one documented error response and the class the client must give it.
type CodeCase struct {
	Fault faults.Fault
	Class providers.Class
}

// Harness adapts one provider's client and fake to the suite.
type Harness struct {
	// NewFake returns a fresh fake that accepts the Valid credentials.
	NewFake func(t testing.TB) faults.Fake
	// NewClient returns a client talking to endpoint (an http:// URL on loopback). timeout is the
	// per-request timeout (0 for the client's default).
	NewClient func(t testing.TB, endpoint string, creds Credentials, timeout time.Duration) providers.Deleter
	// Target returns the i-th distinct target; the suite Adds it to the fake before deleting it.
	Target func(i int) providers.Target
	// Recycles is true when a delete of Target moves the file to a recycle bin (the Result says
	// Recycled with an item id) instead of deleting it permanently. For a providers.Restorer the Valid
	// credentials must then also be allowed to restore.
	Recycles bool
	// DocumentedErrors are the provider's documented error responses with their expected classes.
	DocumentedErrors []CodeCase
	// ExpireTokens makes every token the fake has issued expire; nil when the client has no renewable
	// token. After it, a delete must succeed at the cost of exactly one extra delete call.
	ExpireTokens func(f faults.Fake)
	// Secrets are the credential strings that must never appear in an error.
	Secrets []string
}

// ItemFailer is implemented by fakes of batch APIs that can fail one item of a batch that otherwise
// succeeds. With it, the batch checks inject every documented error into a single item.
type ItemFailer interface {
	// FailItem makes the next n batch items naming t answer f (its status, code and message).
	FailItem(t providers.Target, n int, f faults.Fault)
}

// AsyncBatcher is implemented by fakes of batch APIs that can answer asynchronously (SMH's 202 and
// task API). With it, the batch deleted-then-gone check runs once more with every batch asynchronous.
type AsyncBatcher interface {
	// SetAsync makes batches of at least minItems items asynchronous, their task reported running
	// runningPolls times before it is done.
	SetAsync(minItems, runningPolls int)
}

// Run runs the whole suite. Clients that implement providers.BatchDeleter (with batching on) are also
// held to the same checks through DeleteBatch, in the "Batch" subtests.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h}
	t.Run("DeleteThenGone", s.deleteThenGone)
	t.Run("DocumentedErrors", s.documentedErrors)
	t.Run("InvalidCredentials", s.invalidCredentials)
	t.Run("Throttle", s.throttle)
	t.Run("Outage", s.outage)
	t.Run("TokenRenewal", s.tokenRenewal)
	t.Run("ContextCancel", s.contextCancel)
	t.Run("Timeout", s.timeout)
	t.Run("BodyCap", s.bodyCap)
	t.Run("Concurrent", s.concurrent)
	t.Run("Batch", s.batch)
	t.Run("NoSecretsInErrors", s.noSecrets)
}

type suite struct {
	h    Harness
	mu   sync.Mutex
	errs []error
	next atomic.Int64
}

// env is one fake behind a loopback server plus a client for it.
type env struct {
	fake   faults.Fake
	client providers.Deleter
	url    string
}

func (s *suite) newEnv(t *testing.T, creds Credentials, timeout time.Duration) env {
	t.Helper()
	f := s.h.NewFake(t)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return env{fake: f, client: s.h.NewClient(t, srv.URL, creds, timeout), url: srv.URL}
}

// target returns a fresh target, added to the fake.
func (s *suite) target(e env) providers.Target {
	tg := s.h.Target(int(s.next.Add(1)))
	e.fake.Add(tg)
	return tg
}

// record keeps every error for the secrets check.
func (s *suite) record(err error) error {
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
	}
	return err
}

func (s *suite) del(e env, ctx context.Context, tg providers.Target) (providers.Result, error) {
	res, err := e.client.Delete(ctx, tg)
	return res, s.record(err)
}

func (s *suite) deleteThenGone(t *testing.T) {
	e := s.newEnv(t, Valid, 0)
	tg := s.target(e)
	require.True(t, e.fake.Exists(tg))

	res, err := s.del(e, context.Background(), tg)
	require.NoError(t, err)
	assert.NotEmpty(t, res.RequestID, "a successful delete carries the provider's request id")
	if s.h.Recycles {
		assert.True(t, res.Recycled)
		assert.Positive(t, res.RecycledItemID, "the recycle-bin item id is what lets a user restore")
	} else {
		assert.False(t, res.Recycled)
	}
	assert.False(t, e.fake.Exists(tg), "file still in the fake's inventory after a successful delete")

	_, err = s.del(e, context.Background(), tg)
	require.Error(t, err)
	assert.Equal(t, providers.Gone, providers.ClassOf(err), "second delete: %v", err)
	assert.Equal(t, 2, e.fake.Calls(tg), "deleting twice costs exactly two calls")

	never := s.h.Target(-1) // never added
	_, err = s.del(e, context.Background(), never)
	assert.Equal(t, providers.Gone, providers.ClassOf(err), "delete of a file that never existed: %v", err)
	assert.Equal(t, 1, e.fake.Calls(never))
}

func (s *suite) documentedErrors(t *testing.T) {
	require.NotEmpty(t, s.h.DocumentedErrors)
	e := s.newEnv(t, Valid, 0)
	for _, c := range s.h.DocumentedErrors {
		name := c.Fault.Code
		if name == "" {
			name = http.StatusText(c.Fault.Status)
		}
		t.Run(name, func(t *testing.T) {
			tg := s.target(e)
			// Twice, so a client that renews credentials and retries once still sees the fault.
			e.fake.Faults().FailNext(2, c.Fault)
			defer e.fake.Faults().Reset()
			_, err := s.del(e, context.Background(), tg)
			require.Error(t, err)
			pe, ok := providers.AsError(err)
			require.True(t, ok, "error is not a *providers.Error: %v", err)
			assert.Equal(t, c.Class, pe.Class, "%v", err)
			if c.Fault.Code != "" && c.Fault.Body == "" {
				assert.Equal(t, c.Fault.Code, pe.Code)
			}
			if c.Fault.Status != 0 && c.Fault.Status != http.StatusOK {
				assert.Equal(t, c.Fault.Status, pe.HTTPStatus)
			}
			assert.True(t, e.fake.Exists(tg), "a failed delete must leave the file in place")
		})
	}
}

func (s *suite) invalidCredentials(t *testing.T) {
	e := s.newEnv(t, Invalid, 0)
	tg := s.target(e)
	_, err := s.del(e, context.Background(), tg)
	require.Error(t, err)
	assert.Equal(t, providers.Fatal, providers.ClassOf(err), "%v", err)
	assert.True(t, e.fake.Exists(tg))
}

func (s *suite) throttle(t *testing.T) {
	e := s.newEnv(t, Valid, 0)
	e.fake.Faults().SetThrottle(1)
	var throttled, ok int
	for range 5 {
		_, err := s.del(e, context.Background(), s.target(e))
		switch providers.ClassOf(err) {
		case "":
			ok++
		case providers.Throttled:
			throttled++
		default:
			t.Fatalf("unexpected error under throttling: %v", err)
		}
	}
	assert.GreaterOrEqual(t, ok, 1)
	assert.GreaterOrEqual(t, throttled, 1, "five calls at once under a 1/s throttle must see a throttle answer")
}

func (s *suite) outage(t *testing.T) {
	e := s.newEnv(t, Valid, 0)
	e.fake.Faults().SetDown(true)
	tg := s.target(e)
	_, err := s.del(e, context.Background(), tg)
	assert.Equal(t, providers.Retry, providers.ClassOf(err), "%v", err)
	e.fake.Faults().SetDown(false)
	_, err = s.del(e, context.Background(), tg)
	require.NoError(t, err)
}

func (s *suite) tokenRenewal(t *testing.T) {
	if s.h.ExpireTokens == nil {
		t.Skip("no renewable token")
	}
	e := s.newEnv(t, Valid, 0)
	warm := s.target(e)
	_, err := s.del(e, context.Background(), warm)
	require.NoError(t, err)

	s.h.ExpireTokens(e.fake)
	tg := s.target(e)
	_, err = s.del(e, context.Background(), tg)
	require.NoError(t, err)
	assert.Equal(t, 2, e.fake.Calls(tg), "renewal costs exactly one extra delete call")
	assert.False(t, e.fake.Exists(tg))
}

func (s *suite) contextCancel(t *testing.T) {
	e := s.newEnv(t, Valid, 0)
	e.fake.Faults().SetLatency(time.Minute, 0)
	tg := s.target(e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.del(e, ctx, tg); done <- err }()
	waitForCalls(t, e.fake, tg, 1)
	cancel()
	err := <-done
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Equal(t, providers.Retry, providers.ClassOf(err))
}

func (s *suite) timeout(t *testing.T) {
	e := s.newEnv(t, Valid, 50*time.Millisecond)
	e.fake.Faults().SetLatency(time.Minute, 0)
	tg := s.target(e)
	_, err := s.del(e, context.Background(), tg)
	assertTimedOut(t, err)
}

// assertTimedOut checks err is the retryable Timeout a per-request timeout must produce when the fake
// never answers.
func assertTimedOut(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err, "the per-request timeout must end a call the fake never answers")
	pe, ok := providers.AsError(err)
	require.True(t, ok)
	assert.Equal(t, providers.Retry, pe.Class)
	assert.Equal(t, "Timeout", pe.Code, "%v", err)
}

// endlessErrorServer answers 500 with an HTML body it keeps writing (up to 64 MiB) and counts what it
// wrote: a client must stop reading at the body cap. Check with assertReadCapped.
func endlessErrorServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var written atomic.Int64
	chunk := []byte(strings.Repeat("<html>gateway error</html>", 2048))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		for written.Load() < 64<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &written
}

// assertReadCapped checks the call against an endlessErrorServer failed retryable and read about the cap.
func assertReadCapped(t *testing.T, srv *httptest.Server, written *atomic.Int64, err error) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, providers.Retry, providers.ClassOf(err), "%v", err)
	srv.CloseClientConnections()
	// The server keeps writing into socket buffers after the client stops; anything near the 64 MiB
	// the server is willing to send means the client read without a cap.
	assert.Less(t, written.Load(), int64(16<<20), "client read far past the 1 MiB cap")
}

// bodyCap points a client at a server that answers 500 with an endless body: the client must stop
// reading at the cap and report a retryable error.
func (s *suite) bodyCap(t *testing.T) {
	srv, written := endlessErrorServer(t)
	c := s.h.NewClient(t, srv.URL, Valid, 10*time.Second)
	tg := s.h.Target(int(s.next.Add(1)))
	_, err := c.Delete(context.Background(), tg)
	s.record(err)
	assertReadCapped(t, srv, written, err)
}

func (s *suite) concurrent(t *testing.T) {
	e := s.newEnv(t, Valid, 0)
	const workers, each = 64, 8
	targets := make([][]providers.Target, workers)
	for w := range targets {
		for range each {
			targets[w] = append(targets[w], s.target(e))
		}
	}
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for _, tg := range targets[w] {
				if _, err := s.del(e, context.Background(), tg); err != nil {
					failures.Add(1)
					t.Errorf("concurrent delete %s: %v", tg, err)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	for _, ts := range targets {
		for _, tg := range ts {
			assert.False(t, e.fake.Exists(tg))
			assert.Equal(t, 1, e.fake.Calls(tg))
		}
	}
}

func (s *suite) noSecrets(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.errs, "the suite produced no errors to check")
	for _, err := range s.errs {
		for _, sec := range s.h.Secrets {
			if sec != "" && strings.Contains(err.Error(), sec) {
				t.Errorf("error leaks a secret: %q", providers.Redact(err.Error(), sec))
			}
		}
	}
}

// waitForCalls blocks until the fake has seen n calls for tg, so a cancellation lands mid-request.
func waitForCalls(t *testing.T, f faults.Fake, tg providers.Target, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.Calls(tg) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the fake never saw the call for %s", tg)
		}
		time.Sleep(time.Millisecond)
	}
}
