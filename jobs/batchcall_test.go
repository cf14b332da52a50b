package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The leader's wait for its token is when a group fills: every request that arrives meanwhile shares
// its call, cut at max, keyed apart, and each gets its own item back.
func TestCallGroupsShareOneCallPerGroup(t *testing.T) {
	g := newCallGroups[string, string](3)
	release := make(chan struct{})
	var mu sync.Mutex
	var calls [][]string
	call := func(reqs []string) ([]string, error) {
		mu.Lock()
		calls = append(calls, append([]string(nil), reqs...))
		mu.Unlock()
		out := make([]string, len(reqs))
		for i, r := range reqs {
			out[i] = "done:" + r
		}
		return out, nil
	}
	ready := func(context.Context) error { <-release; return nil }

	var wg sync.WaitGroup
	got := make([]string, 7)
	reqs := []struct{ key, req string }{{"a", "a1"}, {"a", "a2"}, {"a", "a3"}, {"a", "a4"}, {"b", "b1"}, {"a", "a5"}, {"b", "b2"}}
	for i, r := range reqs {
		wg.Go(func() {
			item, err := g.do(context.Background(), r.key, r.req, ready, call)
			assert.NoError(t, err)
			got[i] = item
		})
		// In order: each joins the group open when it arrives.
		require.Eventually(t, func() bool { return int(g.waiting.Load()) == i+1 }, 5*time.Second, time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, r := range reqs {
		assert.Equal(t, "done:"+r.req, got[i])
	}
	assert.ElementsMatch(t, [][]string{{"a1", "a2", "a3"}, {"a4", "a5"}, {"b1", "b2"}}, calls)
}

// A failure before the call (the rate limiter's) is every member's answer, and no call is made; a
// call that answers the wrong number of items is an error for all, never an item for the wrong task.
func TestCallGroupsErrorsReachEveryMember(t *testing.T) {
	g := newCallGroups[int, int](10)
	limiterDown := errors.New("limiter down")
	release := make(chan struct{})
	called := false
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			_, errs[i] = g.do(context.Background(), "k", i, func(context.Context) error { <-release; return limiterDown },
				func([]int) ([]int, error) { called = true; return nil, nil })
		})
		require.Eventually(t, func() bool { return int(g.waiting.Load()) == i+1 }, 5*time.Second, time.Millisecond)
	}
	close(release)
	wg.Wait()
	for _, err := range errs {
		assert.ErrorIs(t, err, limiterDown)
	}
	assert.False(t, called)

	_, err := g.do(context.Background(), "k", 1, func(context.Context) error { return nil },
		func(reqs []int) ([]int, error) { return []int{1, 2}, nil })
	assert.EqualError(t, err, "provider answered 2 items for 1 requests")
}

// A member whose task context ends while the call is out still gets the call's answer: the call may
// have deleted its file, and only the answer lets the task record that.
func TestCallGroupsMembersOutwaitTheirContext(t *testing.T) {
	g := newCallGroups[int, string](10)
	inCall, finish := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	ready := func(context.Context) error { <-release; return nil }
	call := func(reqs []int) ([]string, error) {
		close(inCall)
		<-finish
		out := make([]string, len(reqs))
		for i, r := range reqs {
			out[i] = fmt.Sprint(r)
		}
		return out, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var leaderItem, memberItem string
	var memberErr error
	wg.Go(func() { leaderItem, _ = g.do(context.Background(), "k", 1, ready, call) })
	require.Eventually(t, func() bool { return int(g.waiting.Load()) == 1 }, 5*time.Second, time.Millisecond)
	wg.Go(func() { memberItem, memberErr = g.do(ctx, "k", 2, ready, call) })
	require.Eventually(t, func() bool { return int(g.waiting.Load()) == 2 }, 5*time.Second, time.Millisecond)
	close(release)
	<-inCall
	cancel()
	close(finish)
	wg.Wait()
	require.NoError(t, memberErr)
	assert.Equal(t, "1", leaderItem)
	assert.Equal(t, "2", memberItem)
}
