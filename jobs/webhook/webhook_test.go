package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/webhook"
)

// A receiver's check accepts what Sender signs, at any clock (30 days either side of today), and
// refuses a changed body, another secret, an old timestamp and a missing signature.
func TestSignatureVerifies(t *testing.T) {
	secret := []byte("whsec-test")
	body := []byte(`{"batch":"b","done":true}`)
	for _, shift := range []time.Duration{-30 * 24 * time.Hour, 0, 30 * 24 * time.Hour} {
		now := time.Now().Add(shift)
		h := webhook.Sign(secret, now, body)
		require.NoError(t, webhook.Verify(secret, h, body, 5*time.Minute, now))
		assert.ErrorIs(t, webhook.Verify(secret, h, append([]byte{' '}, body...), 5*time.Minute, now), webhook.ErrBadSignature)
		assert.ErrorIs(t, webhook.Verify([]byte("other"), h, body, 5*time.Minute, now), webhook.ErrBadSignature)
		assert.ErrorIs(t, webhook.Verify(secret, h, body, 5*time.Minute, now.Add(10*time.Minute)), webhook.ErrBadSignature, "a replay later")
		assert.ErrorIs(t, webhook.Verify(secret, "", body, 5*time.Minute, now), webhook.ErrBadSignature)
	}
}

func TestDeliverSignsAndReportsFailures(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	s, err := webhook.NewSender("s3cret-value")
	require.NoError(t, err)
	body := []byte(`{"batch":"x"}`)
	require.NoError(t, s.Deliver(context.Background(), srv.URL+"/hook?token=qq", "batch_done", body))
	assert.Equal(t, "batch_done", got.Header.Get(webhook.EventHeader))
	assert.Equal(t, body, gotBody)
	require.NoError(t, webhook.Verify([]byte("s3cret-value"), got.Header.Get(webhook.SignatureHeader), gotBody, time.Minute, time.Now()))

	status = http.StatusInternalServerError
	err = s.Deliver(context.Background(), srv.URL+"/hook?token=qq", "batch_done", body)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "token=qq", "errors name the host, never the query")
	assert.NotContains(t, err.Error(), "s3cret-value")

	srv.Close()
	err = s.Deliver(context.Background(), srv.URL+"/hook?token=qq", "batch_done", body)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "token=qq")

	_, err = webhook.NewSender("")
	assert.Error(t, err)
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://hooks.example.com/reaper", "http://127.0.0.1:8080/x?k=v"} {
		assert.NoError(t, webhook.CheckURL(ok), ok)
	}
	for _, bad := range []string{"", "ftp://x/y", "hooks.example.com/x", "https:///nohost", "javascript:alert(1)", "http://%zz"} {
		err := webhook.CheckURL(bad)
		if assert.Error(t, err, bad) && bad != "" {
			assert.False(t, strings.Contains(err.Error(), bad), "the error does not quote the URL")
		}
	}
}
