package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/webhook"
)

const testWebhookSecret = "test-webhook-secret"

// hookReceiver is a webhook endpoint that checks every delivery's signature as a receiver should,
// fails the first failFirst deliveries with 500, and can hold deliveries until released.
type hookReceiver struct {
	srv       *httptest.Server
	failFirst int
	hold      chan struct{} // nil: answer at once
	mu        sync.Mutex
	attempts  int
	bad       int // deliveries whose signature did not verify
	got       []delivery
}

type delivery struct {
	event  string
	status jobs.BatchStatus
}

func startReceiver(t *testing.T, failFirst int, hold chan struct{}) *hookReceiver {
	h := &hookReceiver{failFirst: failFirst, hold: hold}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if h.hold != nil {
			select {
			case <-h.hold:
			case <-r.Context().Done():
				return
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts++
		if err := webhook.Verify([]byte(testWebhookSecret), r.Header.Get(webhook.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.attempts <= h.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var st jobs.BatchStatus
		if err := json.Unmarshal(body, &st); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.got = append(h.got, delivery{event: r.Header.Get(webhook.EventHeader), status: st})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) deliveries() ([]delivery, int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.got...), h.attempts, h.bad
}

// startLiveNotifying is startLive with webhooks on (batch.notify_url, REAPER_WEBHOOK_SECRET) and a
// delivery backoff short enough for a test.
func startLiveNotifying(t *testing.T, url string) *live {
	l := startLive(t, func(c *config.Config) {
		c.Batch.NotifyURL, c.Batch.WebhookSecret = url, testWebhookSecret
	})
	o := wiring.Options(l.cfg)
	o.Notify.BaseDelay, o.Notify.MaxDelay, o.Notify.RelayEvery = 50*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
	l.p = jobs.New(l.redis.Client(), o)
	return l
}

// A done batch is POSTed to its webhook with its status document, signed; deliveries the receiver
// fails are retried with backoff until one lands, and the outcome stream gets one batch_done entry
// however often the webhook was tried.
func TestWebhookIsSignedAndRetriedUntilDelivered(t *testing.T) {
	hook := startReceiver(t, 3, nil)
	l := startLiveNotifying(t, hook.srv.URL+"/reaper")
	l.startWorker(t)
	targets := l.stack.Targets(2, 0)
	batch := l.submit(t, targets...)
	waitDone(t, l.p.Store, batch)

	var got []delivery
	require.Eventually(t, func() bool { got, _, _ = hook.deliveries(); return len(got) > 0 }, 30*time.Second, 20*time.Millisecond)
	_, attempts, bad := hook.deliveries()
	assert.Zero(t, bad, "every delivery is signed")
	assert.Equal(t, 4, attempts, "three failures, then the delivery")
	require.Len(t, got, 1)
	assert.Equal(t, jobs.EventDone, got[0].event)
	assert.Equal(t, batch, got[0].status.Batch)
	assert.True(t, got[0].status.Done)
	assert.Equal(t, int64(len(targets)), got[0].status.Total)
	require.NotEmpty(t, got[0].status.Audit, "the status document carries the audit trail")
	assert.Equal(t, jobs.AuditSubmitted, got[0].status.Audit[0].Action)

	entries, err := l.redis.Client().XRange(context.Background(), jobs.StreamKey, "-", "+").Result()
	require.NoError(t, err)
	outcomes, events := 0, 0
	for _, e := range entries {
		if _, ok := e.Values["r"]; ok {
			outcomes++
			continue
		}
		assert.Equal(t, jobs.EventDone, e.Values["event"])
		assert.Equal(t, batch, e.Values["batch"])
		var st jobs.BatchStatus
		require.NoError(t, json.Unmarshal([]byte(e.Values["status"].(string)), &st))
		assert.True(t, st.Done)
		events++
	}
	assert.Equal(t, len(targets), outcomes)
	assert.Equal(t, 1, events, "one batch_done entry, whatever the webhook's retries")
}

// A webhook that never answers holds no deletion: a second batch submitted after the first one's
// delivery hung completes while that delivery is still in flight.
func TestAHangingWebhookNeverDelaysOutcomes(t *testing.T) {
	release := make(chan struct{})
	hook := startReceiver(t, 0, release)
	t.Cleanup(func() { close(release) }) // before the server closes (cleanups run last first)
	l := startLiveNotifying(t, hook.srv.URL)
	l.startWorker(t)
	targets := l.stack.Targets(4, 0)
	first := l.submit(t, targets[:6]...)
	waitDone(t, l.p.Store, first)
	second := l.submit(t, targets[6:]...)
	b := waitDone(t, l.p.Store, second)
	assert.Equal(t, int64(len(targets)-6), b.Terminal)
	_, attempts, _ := hook.deliveries()
	assert.Zero(t, attempts, "the first batch's delivery is still hanging")
}
