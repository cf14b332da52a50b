package jobs

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/reaper-media/reaper/providers"
)

// forEach runs fn for every item of seq (targets, or tasks naming their target) on n goroutines and
// stops at the first error, which it returns naming the item; it also stops when ctx ends. It is the one worker pool behind enqueueing
// (Producer.Add) and bulk index updates (Index.RegisterAll, Index.UnregisterAll).
func forEach[T fmt.Stringer](ctx context.Context, n int, seq iter.Seq[T], fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan T, 4*max(1, n))
	var wg sync.WaitGroup
	for range max(1, n) {
		wg.Go(func() {
			for t := range work {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := fn(ctx, t); err != nil {
					cancel(fmt.Errorf("%s: %w", t, err))
				}
			}
		})
	}
	for t := range seq {
		if ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// providerCounts counts per provider, safe for concurrent use: one slot per providers.Names entry.
type providerCounts []atomic.Int64

func newProviderCounts() providerCounts { return make(providerCounts, len(providers.Names)) }

func (c providerCounts) add(n providers.Name, d int64) {
	if i := slices.Index(providers.Names, n); i >= 0 {
		c[i].Add(d)
	}
}

// total is the sum over providers.
func (c providerCounts) total() int {
	t := int64(0)
	for i := range c {
		t += c[i].Load()
	}
	return int(t)
}

// byProvider is the non-zero counts.
func (c providerCounts) byProvider() map[providers.Name]int {
	out := map[providers.Name]int{}
	for i, n := range providers.Names {
		if v := c[i].Load(); v > 0 {
			out[n] = int(v)
		}
	}
	return out
}
