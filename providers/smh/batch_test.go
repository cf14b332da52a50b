package smh_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// fastPolls are task-poll settings for tests: no test waits on a real second.
var fastPolls = smh.Config{TaskPollInterval: time.Millisecond, TaskTimeout: 10 * time.Second}

func batchClient(t testing.TB, e *env, cfg smh.Config) *smh.Client {
	t.Helper()
	if cfg.TaskPollInterval == 0 {
		cfg.TaskPollInterval = fastPolls.TaskPollInterval
	}
	if cfg.TaskTimeout == 0 {
		cfg.TaskTimeout = fastPolls.TaskTimeout
	}
	return e.client(t, cfg)
}

func added(e *env, ts ...providers.Target) []providers.Target {
	for _, tg := range ts {
		e.fake.Add(tg)
	}
	return ts
}

// classes returns each item's class ("" for success).
func classes(items []providers.BatchItem) []providers.Class {
	out := make([]providers.Class, len(items))
	for i, it := range items {
		out[i] = providers.ClassOf(it.Err)
	}
	return out
}

func code(err error) string {
	pe, _ := providers.AsError(err)
	if pe == nil {
		return ""
	}
	return pe.Code
}

// capture records the body and URL of every batch request, then lets the fake answer.
func capture(t *testing.T, e *env) (bodies *[]string, urls *[]string) {
	var bs, us []string
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/api/v1/batch/") || strings.HasPrefix(r.URL.Path, "/api/v1/recycled/") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			bs = append(bs, string(b))
			us = append(us, r.URL.String())
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		}
		return false
	})
	return &bs, &us
}

func TestBatchRequestOnTheWire(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	bodies, urls := capture(t, e)
	a, b := target("dir/a?b#c%.mp4"), target("c.mp4")
	b.Permanent = true
	a.UserID, b.UserID = "operator 1", "operator 1"
	items, err := c.DeleteBatch(context.Background(), added(e, a, b))
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{"", ""}, classes(items))
	require.Len(t, *bodies, 1)
	assert.JSONEq(t, `[{"path":"dir/a?b#c%.mp4"},{"path":"c.mp4","permanent":true}]`, (*bodies)[0])
	u := (*urls)[0]
	assert.True(t, strings.HasPrefix(u, "/api/v1/batch/smhrecycle/-?delete&access_token="+smhtest.TokenPrefix), u)
	assert.Contains(t, u, "&user_id=operator+1")
	assert.Equal(t, 1, e.fake.BatchCalls())
	assert.Equal(t, 1, e.fake.Requests(), "two files, one request")
}

func TestBatchItemOutcomes(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	recycled, permanent, missing := target("a.mp4"), target("b.mp4"), target("never.mp4")
	permanent.Permanent = true
	throttled, broken, dup := target("throttled.mp4"), target("broken.mp4"), target("a.mp4")
	added(e, recycled, permanent, throttled, broken)
	e.fake.FailItem(throttled, 1, faults.Fault{Status: 429, Code: "RateLimitExceeded"})
	e.fake.FailItem(broken, 1, faults.Fault{Status: 503, Code: "ServerOverloaded"})
	invalid := target("bad//path.mp4")

	items, err := c.DeleteBatch(context.Background(), []providers.Target{recycled, permanent, missing, throttled, broken, invalid, dup})
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{"", "", providers.Gone, providers.Throttled, providers.Retry, providers.Fatal, ""}, classes(items))
	assert.True(t, items[0].Result.Recycled)
	assert.Positive(t, items[0].Result.RecycledItemID)
	assert.Equal(t, items[0].Result, items[6].Result, "a path given twice shares its one outcome")
	assert.False(t, items[1].Result.Recycled, "204: deleted for good")
	assert.Equal(t, "FileNotFound", code(items[2].Err))
	assert.Equal(t, "InvalidTarget", code(items[5].Err))
	for i, it := range items {
		assert.Equal(t, []providers.Target{recycled, permanent, missing, throttled, broken, invalid, dup}[i], it.Target)
	}
	assert.True(t, e.fake.Exists(throttled) && e.fake.Exists(broken), "failed items stay")
	assert.Equal(t, 1, e.fake.Calls(recycled), "the duplicate path is sent once")
	assert.Equal(t, 1, e.fake.BatchCalls())

	// Only the failed items go again, alone: the neighbours are not touched twice.
	again, err := c.DeleteBatch(context.Background(), []providers.Target{throttled, broken})
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{"", ""}, classes(again))
}

// answerWith makes the batch endpoint answer status and body (the fake is bypassed).
func answerWith(e *env, path string, status int, body func(r *http.Request) string) {
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, path) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-batch")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body(r))
		return true
	})
}

func TestBatchMatchesItemsByPath(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	ts := []providers.Target{target("x/1.mp4"), target("x/2.mp4"), target("x/3.mp4"), target("x/4.mp4")}
	// Out of order, one path as a string, one item unreadable, one missing, odd extras ignored.
	answerWith(e, "/api/v1/batch/", 207, func(*http.Request) string {
		return `{"result":[
			{"status":404,"code":"FileNotFound","message":"File not found.","path":["x","3.mp4"]},
			{"status":"200","recycledItemId":"77","path":"x/2.mp4"},
			{"status":200,"recycledItemId":78,"path":["x","1.mp4"]},
			{"status":200,"recycledItemId":79,"path":["x","1.mp4"]},
			{"status":200,"path":["somewhere","else.mp4"]},
			"not an item"]}`
	})
	items, err := c.DeleteBatch(context.Background(), ts)
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{"", "", providers.Gone, providers.Retry}, classes(items))
	assert.Equal(t, int64(78), items[0].Result.RecycledItemID, "the first item for a path counts")
	assert.Equal(t, int64(77), items[1].Result.RecycledItemID, "numbers as strings are read")
	assert.Equal(t, "MissingItemResult", code(items[3].Err))
	assert.Equal(t, "req-batch", items[0].Result.RequestID)

	t.Run("positional fallback only without paths and with one item per entry", func(t *testing.T) {
		answerWith(e, "/api/v1/batch/", 200, func(*http.Request) string {
			return `{"result":[{"status":200,"recycledItemId":1},{"status":204}]}`
		})
		items, err := c.DeleteBatch(context.Background(), ts[:2])
		require.NoError(t, err)
		assert.Equal(t, int64(1), items[0].Result.RecycledItemID)
		assert.NoError(t, items[1].Err)

		items, err = c.DeleteBatch(context.Background(), ts[:3])
		require.NoError(t, err)
		assert.Equal(t, []providers.Class{providers.Retry, providers.Retry, providers.Retry}, classes(items),
			"two pathless items for three entries cannot be placed")
	})
	t.Run("a success status with a body that is not a result is retried", func(t *testing.T) {
		answerWith(e, "/api/v1/batch/", 200, func(*http.Request) string { return `<html>portal</html>` })
		_, err := c.DeleteBatch(context.Background(), ts[:2])
		assert.Equal(t, providers.Retry, providers.ClassOf(err))
		assert.Equal(t, "InvalidResponse", code(err))
	})
	t.Run("an item with a success-range status SMH does not document is retried", func(t *testing.T) {
		answerWith(e, "/api/v1/batch/", 207, func(*http.Request) string {
			return `{"result":[{"status":0,"path":["x","1.mp4"]}]}`
		})
		items, err := c.DeleteBatch(context.Background(), ts[:1])
		require.NoError(t, err)
		assert.Equal(t, providers.Retry, providers.ClassOf(items[0].Err))
	})
}

func TestBatchRefusesWhatItMustNotSend(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{BatchSize: 3})
	other := target("b.mp4")
	other.LibraryID = libPlain
	otherUser := target("c.mp4")
	otherUser.UserID = "someone"
	for name, ts := range map[string][]providers.Target{
		"two libraries": {target("a.mp4"), other},
		"two user ids":  {target("a.mp4"), otherUser},
		"over the size": {target("1"), target("2"), target("3"), target("4")},
	} {
		t.Run(name, func(t *testing.T) {
			items, err := c.DeleteBatch(context.Background(), ts)
			assert.Nil(t, items)
			assert.Equal(t, providers.Fatal, providers.ClassOf(err))
			assert.Equal(t, "InvalidBatch", code(err))
		})
	}
	assert.Zero(t, e.requests.Load(), "refused batches never reach SMH")

	// A target without library or space gets the defaults, and so the same key as one that names them.
	assert.Equal(t, c.BatchKey(target("x")), c.BatchKey(providers.Target{Provider: providers.SMH, Path: "y"}))
	items, err := c.DeleteBatch(context.Background(), nil)
	assert.NoError(t, err)
	assert.Empty(t, items)
}

func TestBatchSizeConfig(t *testing.T) {
	for size, want := range map[int]int{0: smh.DefaultBatchSize, 1: 1, 1000: 1000} {
		c, err := smh.New(smh.Config{LibrarySecret: secret, BatchSize: size})
		require.NoError(t, err)
		assert.Equal(t, want, c.MaxBatch(), "BatchSize %d", size)
	}
	for _, size := range []int{-1, smh.MaxBatchSize + 1} {
		_, err := smh.New(smh.Config{LibrarySecret: secret, BatchSize: size})
		assert.ErrorContains(t, err, "Config.BatchSize", "BatchSize %d", size)
	}
	_, err := smh.New(smh.Config{LibrarySecret: secret, TaskTimeout: -time.Second})
	assert.ErrorContains(t, err, "Config.TaskTimeout")
	var _ providers.BatchDeleter = (*smh.Client)(nil)
}

func TestBatchAsync(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	e.fake.SetAsync(2, 3)
	ts := added(e, target("a.mp4"), target("b.mp4"))
	items, err := c.DeleteBatch(context.Background(), append(ts, target("gone.mp4")))
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{"", "", providers.Gone}, classes(items))
	assert.True(t, items[0].Result.Recycled)
	assert.Equal(t, 4, e.fake.TaskCalls(), "three 'running' answers, then the result")
	for _, u := range e.urls() {
		if strings.HasPrefix(u.Path, "/api/v1/task/") {
			assert.Equal(t, "/api/v1/task/smhrecycle/-/1", u.Path)
		}
	}
}

func TestBatchTaskTimeout(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{TaskTimeout: 20 * time.Millisecond})
	e.fake.SetAsync(1, -1) // never done
	ts := added(e, target("a.mp4"), target("b.mp4"))
	items, err := c.DeleteBatch(context.Background(), ts)
	require.NoError(t, err)
	for _, it := range items {
		assert.Equal(t, providers.Retry, providers.ClassOf(it.Err))
		assert.Equal(t, "TaskTimeout", code(it.Err))
		assert.Contains(t, it.Err.Error(), "batch task 1")
	}
	assert.Positive(t, e.fake.TaskCalls())

	// The task did its work meanwhile: the retry finds the files gone, which ends them as gone.
	e.fake.SetAsync(0, 0)
	items, err = c.DeleteBatch(context.Background(), ts)
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{providers.Gone, providers.Gone}, classes(items))
}

func TestBatchTaskStatuses(t *testing.T) {
	ts := []providers.Target{target("a.mp4"), target("b.mp4")}
	cases := []struct {
		name   string
		status int
		body   string
		want   []providers.Class
		codes  []string
	}{
		{"done without result", 200, `[{"taskId":5,"status":204}]`, []providers.Class{"", ""}, []string{"", ""}},
		{"done, result wrapped", 200, `[{"taskId":5,"status":200,"result":{"result":[{"status":204,"path":["a.mp4"]}]}}]`,
			[]providers.Class{"", providers.Retry}, []string{"", "MissingItemResult"}},
		{"done, bare list", 200, `[{"taskId":5,"status":200,"result":[{"status":404,"code":"FileNotFound","path":["b.mp4"]}]}]`,
			[]providers.Class{providers.Retry, providers.Gone}, []string{"MissingItemResult", "FileNotFound"}},
		{"failed with a partial result", 200, `[{"taskId":5,"status":500,"result":{"result":[{"status":200,"recycledItemId":9,"path":["a.mp4"]}]}}]`,
			[]providers.Class{"", providers.Retry}, []string{"", "TaskFailed"}},
		{"other tasks are ignored, a lone object is read", 200, `{"taskId":5,"status":204}`, []providers.Class{"", ""}, []string{"", ""}},
		{"task query refused", 404, `{"code":"TaskNotFound","message":"Task not found."}`,
			[]providers.Class{providers.Retry, providers.Retry}, []string{"TaskNotFound", "TaskNotFound"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, smhtest.Options{})
			c := batchClient(t, e, smh.Config{})
			var polls atomic.Int64
			e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case strings.HasPrefix(r.URL.Path, "/api/v1/batch/"):
					w.WriteHeader(202)
					_, _ = io.WriteString(w, `{"taskId":5}`)
				case strings.HasPrefix(r.URL.Path, "/api/v1/task/"):
					if polls.Add(1) == 1 {
						_, _ = io.WriteString(w, `[{"taskId":4,"status":200},{"taskId":5,"status":202}]`)
						return true
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				default:
					return false
				}
				return true
			})
			items, err := c.DeleteBatch(context.Background(), ts)
			require.NoError(t, err)
			assert.Equal(t, tc.want, classes(items))
			for i, it := range items {
				assert.Equal(t, tc.codes[i], code(it.Err), "item %d: %v", i, it.Err)
			}
			assert.EqualValues(t, 2, polls.Load())
		})
	}
}

func TestBatchTokenRenewedWhilePolling(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	e.fake.SetAsync(1, 1)
	var expired atomic.Bool
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/api/v1/task/") && !expired.Swap(true) {
			e.fake.ExpireTokens()
		}
		return false
	})
	ts := added(e, target("a.mp4"), target("b.mp4"))
	items, err := c.DeleteBatch(context.Background(), ts)
	require.NoError(t, err)
	assert.Equal(t, []providers.Class{"", ""}, classes(items))
	assert.Equal(t, 2, e.fake.TokenCalls(), "one renewal")
	assert.Equal(t, 1, e.fake.BatchCalls(), "a renewal while polling never sends the batch again")
}

func TestBatchCallCancelledWhilePolling(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	e.fake.SetAsync(1, -1)
	ctx, cancel := context.WithCancel(context.Background())
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/api/v1/task/") {
			cancel()
		}
		return false
	})
	items, err := c.DeleteBatch(ctx, added(e, target("a.mp4")))
	assert.Nil(t, items)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, providers.Retry, providers.ClassOf(err))
}

func TestBatchErrorsHoldNoSecrets(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	// A server that echoes the token it was given into every item's message and code.
	answerWith(e, "/api/v1/batch/", 207, func(r *http.Request) string {
		tok := r.URL.Query().Get("access_token")
		return fmt.Sprintf(`{"result":[{"status":500,"code":"X%s","message":"token %s rejected","path":["a.mp4"]}]}`, tok, tok)
	})
	items, err := c.DeleteBatch(context.Background(), []providers.Target{target("a.mp4")})
	require.NoError(t, err)
	require.Error(t, items[0].Err)
	assert.NotContains(t, items[0].Err.Error(), smhtest.TokenPrefix)
	assert.NotContains(t, items[0].Err.Error(), secret)
	assert.Contains(t, items[0].Err.Error(), "***")
}

// BenchmarkSMHBatchDelete deletes files from the fake on loopback, one goroutine, no rate limit: with
// batch_size 1 one DELETE per file, with 100 and 1,000 one batch request per that many. It reports
// files/s and requests per file (the fake's count of delete, batch and task requests).
func BenchmarkSMHBatchDelete(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch_size=%d", size), func(b *testing.B) {
			fake := smhtest.New(smhtest.Options{Libraries: libraries()})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			c, err := smh.New(smh.Config{Endpoint: srv.URL, LibraryID: libRecycle, LibrarySecret: secret, BatchSize: size})
			require.NoError(b, err)
			targets := make([]providers.Target, b.N)
			for i := range targets {
				targets[i] = target(fmt.Sprintf("bench/%d/%d.mp4", i/1000, i))
				fake.Add(targets[i])
			}
			ctx := context.Background()
			b.ResetTimer()
			for start := 0; start < len(targets); start += size {
				if size == 1 {
					if _, err := c.Delete(ctx, targets[start]); err != nil {
						b.Fatal(err)
					}
					continue
				}
				items, err := c.DeleteBatch(ctx, targets[start:min(start+size, len(targets))])
				if err != nil {
					b.Fatal(err)
				}
				for _, it := range items {
					if it.Err != nil {
						b.Fatal(it.Err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
			b.ReportMetric(float64(fake.Requests())/float64(b.N), "requests/file")
			b.ReportMetric(0, "ns/op")
			if fake.Len() != 0 {
				b.Fatalf("%d files left", fake.Len())
			}
		})
	}
}
