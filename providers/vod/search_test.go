package vod_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/vod"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

// cutoff is the "created before" of the search tests: a whole second, in UTC.
var cutoff = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// policyFilter is a retention policy's filter that every "matching" media of these tests passes.
var policyFilter = vod.SearchFilter{
	SubAppID:       subApp,
	ClassIDs:       []int64{3},
	Categories:     []string{"Video"},
	SourceTypes:    []string{"Upload"},
	StorageRegions: []string{"ap-guangzhou"},
}

// matching is a media that policyFilter selects when it is old enough. Class 7 sits under class 3.
func matching(id string, created time.Time) vodtest.Media {
	return vodtest.Media{FileID: id, SubAppID: subApp, CreateTime: created, ClassID: 7, Category: "Video",
		SourceType: "Upload", StorageRegion: "ap-guangzhou"}
}

// found is what Search handed to fn.
type found struct {
	mu      sync.Mutex
	calls   int
	targets map[string]providers.Target
	created map[string]time.Time
	counts  map[string]int
}

func newFound() *found {
	return &found{targets: map[string]providers.Target{}, created: map[string]time.Time{}, counts: map[string]int{}}
}

func (f *found) fn(t providers.Target, created time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.targets[t.FileID] = t
	f.created[t.FileID] = created
	f.counts[t.FileID]++
	return nil
}

// searchFixture is a fake with policyFilter's sub-application and class tree, and a client for it.
func searchFixture(t *testing.T) (*vodtest.Fake, *vod.Client) {
	t.Helper()
	f := newFake()
	f.SetClassParent(7, 3)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, newClient(t, vod.Config{Endpoint: srv.URL})
}

func TestSearchFindsEveryMatchOnceAcrossWindows(t *testing.T) {
	for _, inclusive := range []bool{false, true} {
		t.Run(fmt.Sprintf("before-inclusive=%v", inclusive), func(t *testing.T) {
			t.Parallel()
			f, c := searchFixture(t)
			f.SetSearchBeforeInclusive(inclusive)

			// 12,000 matches over two years before the cutoff; every 10th shares its second with the
			// next one, and the newest is one second before the cutoff.
			const n = 12000
			want := map[string]time.Time{}
			step := 2 * 365 * 24 * time.Hour / n
			for i := range n {
				created := cutoff.Add(-time.Second - time.Duration(i)*step).Truncate(time.Second)
				if i%10 == 1 {
					created = cutoff.Add(-time.Second - time.Duration(i-1)*step).Truncate(time.Second)
				}
				id := fmt.Sprintf("m%05d", i)
				f.AddMedia(matching(id, created))
				want[id] = created
			}
			// Media the policy must not select.
			other := func(prefix string, count int, edit func(*vodtest.Media, int)) {
				for i := range count {
					m := matching(fmt.Sprintf("%s%04d", prefix, i), cutoff.Add(-time.Duration(i+1)*time.Hour))
					edit(&m, i)
					f.AddMedia(m)
				}
			}
			other("new", 400, func(m *vodtest.Media, i int) { m.CreateTime = cutoff.Add(time.Duration(i) * time.Minute) })
			other("class", 300, func(m *vodtest.Media, _ int) { m.ClassID = 9 })
			other("audio", 300, func(m *vodtest.Media, _ int) { m.Category = "Audio" })
			other("record", 300, func(m *vodtest.Media, _ int) { m.SourceType = "Record" })
			other("region", 300, func(m *vodtest.Media, _ int) { m.StorageRegion = "ap-singapore" })
			other("subapp", 300, func(m *vodtest.Media, _ int) { m.SubAppID = subApp + 1 })

			got := newFound()
			require.NoError(t, c.Search(context.Background(), policyFilter, cutoff, got.fn))

			assert.Equal(t, n, got.calls, "one call per match")
			assert.Len(t, got.counts, n)
			for id, created := range want {
				if !assert.Equal(t, 1, got.counts[id], id) {
					continue
				}
				assert.Equal(t, providers.Target{Provider: providers.VOD, FileID: id, SubAppID: subApp}, got.targets[id])
				assert.True(t, created.Equal(got.created[id]), "%s: created %v, got %v", id, created, got.created[id])
			}

			queries := f.SearchQueries()
			assert.Equal(t, f.SearchCalls(), len(queries), "every request was answered")
			windows := map[[2]time.Time]bool{}
			capped := 0
			for _, q := range queries {
				assert.LessOrEqual(t, q.Offset+q.Limit, vod.SearchResultLimit, "no query pages past 5000")
				assert.Equal(t, "Asc", q.Order)
				assert.Equal(t, uint64(subApp), q.SubAppID)
				windows[[2]time.Time{q.After, q.Before}] = true
				if q.TotalCount == vodtest.SearchResultLimit {
					capped++
				}
			}
			assert.Greater(t, capped, 1, "windows of 5000+ matches were split")
			assert.Greater(t, len(windows), 3, "the range was searched in several windows")
			t.Logf("%d media found with %d SearchMedia requests over %d windows", got.calls, len(queries), len(windows))
		})
	}
}

func TestSearchFilters(t *testing.T) {
	f, c := searchFixture(t)
	f.SetClassParent(8, 7) // 8 under 7 under 3
	old := cutoff.Add(-48 * time.Hour)
	add := func(id string, edit func(*vodtest.Media)) {
		m := matching(id, old)
		edit(&m)
		f.AddMedia(m)
	}
	add("base", func(*vodtest.Media) {})
	add("grandchild", func(m *vodtest.Media) { m.ClassID = 8 })
	add("class3", func(m *vodtest.Media) { m.ClassID = 3 })
	add("class9", func(m *vodtest.Media) { m.ClassID = 9 })
	add("audio", func(m *vodtest.Media) { m.Category = "Audio" })
	add("image", func(m *vodtest.Media) { m.Category = "Image" })
	add("record", func(m *vodtest.Media) { m.SourceType = "Record" })
	add("singapore", func(m *vodtest.Media) { m.StorageRegion = "ap-singapore" })
	add("primary", func(m *vodtest.Media) { m.SubAppID = 0 })
	add("young", func(m *vodtest.Media) { m.CreateTime = cutoff })

	cases := []struct {
		name   string
		filter vod.SearchFilter
		want   []string
	}{
		{"everything in the sub-application", vod.SearchFilter{SubAppID: subApp},
			[]string{"base", "grandchild", "class3", "class9", "audio", "image", "record", "singapore"}},
		{"a class includes its subclasses", vod.SearchFilter{SubAppID: subApp, ClassIDs: []int64{7}},
			[]string{"base", "grandchild", "audio", "image", "record", "singapore"}},
		{"any of several classes", vod.SearchFilter{SubAppID: subApp, ClassIDs: []int64{8, 9}},
			[]string{"grandchild", "class9"}},
		{"categories", vod.SearchFilter{SubAppID: subApp, Categories: []string{"Audio", "Image"}},
			[]string{"audio", "image"}},
		{"source types", vod.SearchFilter{SubAppID: subApp, SourceTypes: []string{"Record"}},
			[]string{"record"}},
		{"storage regions", vod.SearchFilter{SubAppID: subApp, StorageRegions: []string{"ap-singapore"}},
			[]string{"singapore"}},
		{"all filters together", policyFilter,
			[]string{"base", "grandchild", "class3"}},
		{"the primary application", vod.SearchFilter{}, []string{"primary"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := newFound()
			require.NoError(t, c.Search(context.Background(), tc.filter, cutoff, got.fn))
			var ids []string
			for id, tg := range got.targets {
				ids = append(ids, id)
				assert.Equal(t, tc.filter.SubAppID, tg.SubAppID)
			}
			assert.ElementsMatch(t, tc.want, ids)
		})
	}

	t.Run("Config.SubAppID is the default", func(t *testing.T) {
		srv := httptest.NewServer(f)
		defer srv.Close()
		withDefault := newClient(t, vod.Config{Endpoint: srv.URL, SubAppID: subApp})
		got := newFound()
		require.NoError(t, withDefault.Search(context.Background(), vod.SearchFilter{Categories: []string{"Image"}}, cutoff, got.fn))
		require.Contains(t, got.targets, "image")
		assert.Equal(t, uint64(subApp), got.targets["image"].SubAppID)
	})
}

func TestSearchCutoffIsExclusive(t *testing.T) {
	for _, inclusive := range []bool{false, true} {
		t.Run(fmt.Sprintf("before-inclusive=%v", inclusive), func(t *testing.T) {
			f, c := searchFixture(t)
			f.SetSearchBeforeInclusive(inclusive)
			f.AddMedia(matching("before", cutoff.Add(-time.Second)))
			f.AddMedia(matching("at", cutoff))
			f.AddMedia(matching("after", cutoff.Add(time.Second)))

			got := newFound()
			require.NoError(t, c.Search(context.Background(), policyFilter, cutoff, got.fn))
			assert.Equal(t, map[string]int{"before": 1}, got.counts)

			// A cutoff inside a second keeps the media of that second's start, which is older.
			got = newFound()
			require.NoError(t, c.Search(context.Background(), policyFilter, cutoff.Add(500*time.Millisecond), got.fn))
			assert.Equal(t, map[string]int{"before": 1, "at": 1}, got.counts)
		})
	}
}

func TestSearchTooManyInOneSecond(t *testing.T) {
	f, c := searchFixture(t)
	dense := cutoff.Add(-30 * 24 * time.Hour)
	for i := range vod.SearchResultLimit + 100 {
		f.AddMedia(matching(fmt.Sprintf("dense%05d", i), dense))
	}
	for i := range 300 {
		f.AddMedia(matching(fmt.Sprintf("spread%03d", i), cutoff.Add(-time.Duration(i+1)*time.Hour*24*7)))
	}

	got := newFound()
	err := c.Search(context.Background(), policyFilter, cutoff, got.fn)
	require.ErrorIs(t, err, vod.ErrTooManyInOneSecond)
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Fatal, pe.Class)
	assert.Equal(t, "TooManyInOneSecond", pe.Code)
	assert.Contains(t, pe.Message, dense.Format("2006-01-02T15:04:05Z"), "the error names the second")

	spread, fromDense := 0, 0
	for id, n := range got.counts {
		assert.Equal(t, 1, n, id)
		if strings.HasPrefix(id, "spread") {
			spread++
		} else {
			fromDense++
		}
	}
	assert.Equal(t, 300, spread, "every other window was still searched")
	assert.Equal(t, vod.SearchResultLimit, fromDense, "the reachable part of the dense second was handed over")
	for _, q := range f.SearchQueries() {
		assert.LessOrEqual(t, q.Offset+q.Limit, vod.SearchResultLimit)
	}
}

func TestSearchStopsOnCancelAndOnCallbackError(t *testing.T) {
	f, c := searchFixture(t)
	for i := range 1200 {
		f.AddMedia(matching(fmt.Sprintf("m%04d", i), cutoff.Add(-time.Duration(i+1)*time.Minute)))
	}

	t.Run("cancel in the callback", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		err := c.Search(ctx, policyFilter, cutoff, func(providers.Target, time.Time) error {
			calls++
			if calls == 10 {
				cancel()
			}
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 10, calls, "no call after the cancellation")
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "Canceled", pe.Code)
	})

	t.Run("canceled before the start", func(t *testing.T) {
		before := f.SearchCalls()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.Search(ctx, policyFilter, cutoff, func(providers.Target, time.Time) error {
			t.Fatal("no media on a canceled context")
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, before, f.SearchCalls(), "no request")
	})

	t.Run("callback error", func(t *testing.T) {
		stop := errors.New("queue full")
		calls := 0
		err := c.Search(context.Background(), policyFilter, cutoff, func(providers.Target, time.Time) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		assert.Same(t, stop, err, "fn's error comes back unchanged")
		assert.Equal(t, 3, calls)
	})
}

func TestSearchErrorsAreClassified(t *testing.T) {
	t.Run("throttled", func(t *testing.T) {
		now := time.Now()
		f := vodtest.New(vodtest.Options{Credentials: []vodtest.Credential{testCred}, Now: func() time.Time { return now }})
		srv := httptest.NewServer(f)
		defer srv.Close()
		c := newClient(t, vod.Config{Endpoint: srv.URL})
		f.AddMedia(matching("m", cutoff.Add(-time.Hour)))
		f.Faults().SetThrottle(1) // one token, and the fake's frozen clock never refills it

		require.NoError(t, c.Search(context.Background(), policyFilter, cutoff, newFound().fn))
		err := c.Search(context.Background(), policyFilter, cutoff, newFound().fn)
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, providers.Throttled, pe.Class)
		assert.Equal(t, "RequestLimitExceeded", pe.Code)
		assert.NotEmpty(t, pe.RequestID)
	})

	t.Run("not-found codes are not 'gone' for a search", func(t *testing.T) {
		f, c := searchFixture(t)
		f.Faults().FailNext(1, faults.Fault{Code: "ResourceNotFound"})
		err := c.Search(context.Background(), policyFilter, cutoff, newFound().fn)
		assert.Equal(t, providers.Fatal, providers.ClassOf(err), "%v", err)
	})

	t.Run("gateway page", func(t *testing.T) {
		f, c := searchFixture(t)
		f.Faults().SetDown(true)
		err := c.Search(context.Background(), policyFilter, cutoff, newFound().fn)
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, providers.Retry, pe.Class)
		assert.Equal(t, http.StatusBadGateway, pe.HTTPStatus)
	})

	t.Run("secrets stay out of errors", func(t *testing.T) {
		f := newFake()
		srv := httptest.NewServer(f)
		defer srv.Close()
		c := newClient(t, vod.Config{Endpoint: srv.URL, SecretID: secretID, SecretKey: wrongKey})
		err := c.Search(context.Background(), policyFilter, cutoff, newFound().fn)
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "AuthFailure.SignatureFailure", pe.Code)
		assert.Equal(t, providers.Fatal, pe.Class)
		for _, s := range []string{secretKey, wrongKey, secretID} {
			assert.NotContains(t, err.Error(), s)
		}
	})

	t.Run("an unreadable CreateTime is never handed over", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"Response":{"TotalCount":1,"MediaInfoSet":[{"FileId":"x","BasicInfo":{"CreateTime":"yesterday"}}],"RequestId":"r-9"}}`)
		}))
		defer srv.Close()
		c := newClient(t, vod.Config{Endpoint: srv.URL})
		got := newFound()
		err := c.Search(context.Background(), policyFilter, cutoff, got.fn)
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "InvalidResponse", pe.Code)
		assert.Equal(t, "r-9", pe.RequestID)
		assert.Zero(t, got.calls)
	})
}

func TestSearchValidatesBeforeAnyRequest(t *testing.T) {
	f, c := searchFixture(t)
	many := make([]int64, 11)
	cases := []struct {
		name   string
		filter vod.SearchFilter
		before time.Time
		field  string
	}{
		{"unknown category", vod.SearchFilter{Categories: []string{"Movie"}}, cutoff, "categories"},
		{"too many classes", vod.SearchFilter{ClassIDs: many}, cutoff, "class_ids"},
		{"negative class", vod.SearchFilter{ClassIDs: []int64{-1}}, cutoff, "class_ids"},
		{"blank source type", vod.SearchFilter{SourceTypes: []string{""}}, cutoff, "source_types"},
		{"malformed region", vod.SearchFilter{StorageRegions: []string{"AP Guangzhou"}}, cutoff, "storage_regions"},
		{"no cutoff", vod.SearchFilter{}, time.Time{}, "createdBefore"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Search(context.Background(), tc.filter, tc.before, newFound().fn)
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "InvalidFilter", pe.Code)
			assert.Contains(t, pe.Message, tc.field)
		})
	}
	assert.Zero(t, f.SearchCalls())
	assert.NoError(t, policyFilter.Validate())
}

// recorder keeps the SearchMedia bodies a client sends, and passes them on.
type recorder struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	rec.mu.Lock()
	rec.bodies = append(rec.bodies, m)
	rec.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return http.DefaultTransport.RoundTrip(r)
}

func TestSearchWireFormat(t *testing.T) {
	f := newFake()
	f.SetClassParent(7, 3)
	srv := httptest.NewServer(f)
	defer srv.Close()
	rec := &recorder{}
	c := newClient(t, vod.Config{Endpoint: srv.URL, HTTPClient: &http.Client{Transport: rec}})
	f.AddMedia(matching("m", cutoff.Add(-time.Hour)))

	got := newFound()
	require.NoError(t, c.Search(context.Background(), policyFilter, cutoff.Add(time.Millisecond), got.fn))
	require.Equal(t, 1, got.calls)
	require.Len(t, rec.bodies, 1, "one page was enough")
	body, err := json.Marshal(rec.bodies[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"SubAppId":1500012345,"ClassIds":[3],"Categories":["Video"],"SourceTypes":["Upload"],
		"StorageRegions":["ap-guangzhou"],"CreateTime":{"Before":"2026-06-01T00:00:01Z"},
		"Sort":{"Field":"CreateTime","Order":"Asc"},"Offset":0,"Limit":500,"Filters":["basicInfo"]}`, string(body))
}

func TestSearchShrinksPagesOverTheBodyCap(t *testing.T) {
	f := newFake()
	f.SetClassParent(7, 3)
	const maxLimit = 100
	// Pages larger than maxLimit come back over the 1 MiB cap, as pages of media with long
	// descriptions and many tags would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p struct{ Limit int }
		_ = json.Unmarshal(b, &p)
		if p.Limit > maxLimit {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"Response":{"RequestId":"r","Padding":"`+strings.Repeat("x", 2<<20)+`"}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	for i := range 1000 {
		f.AddMedia(matching("m"+strconv.Itoa(i), cutoff.Add(-time.Duration(i+1)*time.Minute)))
	}

	got := newFound()
	require.NoError(t, c.Search(context.Background(), policyFilter, cutoff, got.fn))
	assert.Len(t, got.counts, 1000)
	for _, q := range f.SearchQueries() {
		assert.LessOrEqual(t, q.Limit, maxLimit)
	}
}

// BenchmarkSearch measures a retention search over 12,000 matching media spread over two years,
// client and fake over loopback: media/s and SearchMedia requests per search.
func BenchmarkSearch(b *testing.B) {
	f := newFake()
	f.SetClassParent(7, 3)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(b, vod.Config{Endpoint: srv.URL})
	const n = 12000
	step := 2 * 365 * 24 * time.Hour / n
	for i := range n {
		f.AddMedia(matching(fmt.Sprintf("m%05d", i), cutoff.Add(-time.Second-time.Duration(i)*step)))
	}
	before := f.SearchCalls()
	b.ResetTimer()
	for range b.N {
		count := 0
		err := c.Search(context.Background(), policyFilter, cutoff, func(providers.Target, time.Time) error {
			count++
			return nil
		})
		if err != nil || count != n {
			b.Fatalf("found %d, err %v", count, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "media/s")
	b.ReportMetric(float64(f.SearchCalls()-before)/float64(b.N), "requests/search")
}
