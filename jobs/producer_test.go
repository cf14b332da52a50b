package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// commandLog is a go-redis hook that notes every command's name and key in order, and can fail the
// nth HSCAN.
type commandLog struct {
	mu        sync.Mutex
	cmds      []string
	hscans    int
	failHScan int // 0: never
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := l.note(cmd); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if err := l.note(c); err != nil {
				c.SetErr(err)
				return err
			}
		}
		return next(ctx, cmds)
	}
}

func (l *commandLog) note(cmd redis.Cmder) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := strings.ToLower(cmd.Name())
	if args := cmd.Args(); len(args) > 1 {
		name += " " + fmt.Sprint(args[1])
	}
	l.cmds = append(l.cmds, name)
	if strings.HasPrefix(name, "hscan ") {
		l.hscans++
		if l.hscans == l.failHScan {
			return errors.New("injected HSCAN failure")
		}
	}
	return nil
}

// positions returns where commands starting with prefix were sent.
func (l *commandLog) positions(prefix string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for i, c := range l.cmds {
		if strings.HasPrefix(c, prefix) {
			out = append(out, i)
		}
	}
	return out
}

// retryRig is a store and producer on a real redis-server, with a batch holding failed and deleted
// records.
func retryRig(t *testing.T, failed, deleted int) (*jobs.Producer, *jobs.Store, *commandLog, string) {
	t.Helper()
	srv := jobstest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	log := &commandLog{}
	rdb.AddHook(log)
	store := jobs.NewStore(rdb, jobs.StoreOptions{})
	client := asynq.NewClientFromRedisClient(rdb)
	p := jobs.NewProducer(client, store, jobs.ProducerOptions{Parallel: 4})
	ctx := context.Background()
	src := jobs.NewBatchID(time.Now())
	require.NoError(t, store.CreateBatch(ctx, jobs.BatchMeta{ID: src}))
	for i := range failed + deleted {
		tg := providers.Target{Provider: providers.VOD, FileID: fmt.Sprint("f", i)}
		out := jobs.Failed
		if i >= failed {
			out = jobs.Deleted
		}
		_, err := store.Finish(ctx, jobs.Record{Batch: src, Provider: tg.Provider, Key: tg.Key(), EnqueueID: "e",
			Target: tg, Outcome: out}, true)
		require.NoError(t, err)
	}
	require.NoError(t, store.AddCounts(ctx, src, failed+deleted, 0))
	require.NoError(t, store.SealBatch(ctx, src))
	log.mu.Lock()
	log.cmds, log.hscans = nil, 0 // only what the retry sends
	log.mu.Unlock()
	return p, store, log, src
}

// TestRetryFailedStreams: the failed targets go to the queues while the records are still being read
// (the first enqueue precedes the last page of HSCAN), so memory does not grow with the batch; and
// exactly the failed ones are retried.
func TestRetryFailedStreams(t *testing.T) {
	p, store, log, src := retryRig(t, 3000, 500)
	ctx := context.Background()
	sum, err := p.RetryFailed(ctx, src, jobs.BatchMeta{SubmittedBy: "test"})
	require.NoError(t, err)
	assert.Equal(t, 3000, sum.Enqueued)
	assert.Equal(t, map[providers.Name]int{providers.VOD: 3000}, sum.ByProvider)
	info, err := store.Batch(ctx, sum.Batch)
	require.NoError(t, err)
	assert.True(t, info.Sealed)
	assert.Equal(t, int64(3000), info.Total)

	scans := log.positions("hscan reaper:batch:" + src + ":out")
	require.Greater(t, len(scans), 2, "the records are read page by page")
	enqueues := log.positions("evalsha") // asynq's enqueue script (the finish script ran before the log was reset)
	require.NotEmpty(t, enqueues)
	assert.Less(t, enqueues[0], scans[len(scans)-1], "enqueueing starts before the last page is read")
}

// TestRetryFailedReadErrorLeavesBatchUnsealed: a Redis error while reading the records stops the
// retry with that error, and the new batch stays unsealed (incomplete), never sealed as if complete.
func TestRetryFailedReadErrorLeavesBatchUnsealed(t *testing.T) {
	p, store, log, src := retryRig(t, 3000, 0)
	log.mu.Lock()
	log.failHScan = 2 // the second page
	log.mu.Unlock()
	ctx := context.Background()
	sum, err := p.RetryFailed(ctx, src, jobs.BatchMeta{})
	require.ErrorContains(t, err, "injected HSCAN failure")
	require.NotEmpty(t, sum.Batch)
	info, err := store.Batch(ctx, sum.Batch)
	require.NoError(t, err)
	assert.False(t, info.Sealed)
	assert.Less(t, sum.Enqueued, 3000)
}
