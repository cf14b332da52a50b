package jobs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// callGroups gathers the attempts of concurrent tasks that can share one provider call (SMH's batch
// delete and batch restore take up to 1,000 items) into groups, one call per group.
//
// The grouping is the worker's own, not asynq's group aggregation: an aggregated task is one task to
// asynq, so one item's retry would re-run its neighbours, a crash would leave no per-target task for
// reconcile to count, and asynq's aggregator has known rough edges (hibiken/asynq #887, #529). Here
// every target stays its own task with its own retry budget and its own outcome; only the provider
// call is shared.
//
// No timer decides when a group is sent. The first task to open a group (its leader) takes the
// provider's rate-limit token for the call; every task that arrives while the leader waits for it
// joins, up to max. So at the rate limit, groups fill with what queued up during one token's wait, and
// below it a lone task is sent at once: batching costs no latency. While a group's call is out, new
// arrivals open the next group.
type callGroups[Req, Item any] struct {
	max  int
	mu   sync.Mutex
	open map[string]*callGroup[Req, Item]
	// waiting counts the requests waiting for their group's answer.
	waiting atomic.Int64
}

// callGroup is one shared call: its requests, then its answer.
type callGroup[Req, Item any] struct {
	reqs  []Req
	items []Item
	err   error
	done  chan struct{}
}

func newCallGroups[Req, Item any](max int) *callGroups[Req, Item] {
	return &callGroups[Req, Item]{max: max, open: map[string]*callGroup[Req, Item]{}}
}

// do adds req to the open group of key (opening one when there is none, or it is full) and returns
// req's item of the group's call, or the call's error. The group's leader runs ready (the wait for
// the rate limit; an error from it is every member's answer and no call is made), then call, which
// must return one item per request in order (or an error for all). Members wait for the answer
// whatever happens to their ctx: a call in flight may delete, and its answer must reach every task
// it concerns to be recorded.
func (g *callGroups[Req, Item]) do(ctx context.Context, key string, req Req, ready func(context.Context) error,
	call func(reqs []Req) ([]Item, error)) (Item, error) {
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	g.mu.Lock()
	grp := g.open[key]
	leader := grp == nil
	if leader {
		grp = &callGroup[Req, Item]{done: make(chan struct{})}
		g.open[key] = grp
	}
	i := len(grp.reqs)
	grp.reqs = append(grp.reqs, req)
	if len(grp.reqs) >= g.max {
		delete(g.open, key) // full: the next arrival opens a new group
	}
	g.mu.Unlock()

	if leader {
		err := ready(ctx)
		g.mu.Lock()
		if g.open[key] == grp {
			delete(g.open, key)
		}
		reqs := grp.reqs // no one joins a group once it left g.open
		g.mu.Unlock()
		if err == nil {
			grp.items, err = call(reqs)
			if err == nil && len(grp.items) != len(reqs) {
				err = fmt.Errorf("provider answered %d items for %d requests", len(grp.items), len(reqs))
			}
		}
		grp.err = err
		close(grp.done)
	} else {
		<-grp.done
	}
	var item Item
	if grp.err != nil {
		return item, grp.err
	}
	return grp.items[i], nil
}
