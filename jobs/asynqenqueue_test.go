package jobs

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// asynqWrote is everything asynq keeps in Redis for one pending task, as written.
type asynqWrote struct {
	hash    map[string]string // the task hash: msg, state, pending_since
	pending []string
	queues  []string
	info    *asynq.TaskInfo // as asynq's Inspector reads the task back
}

func readAsynqTask(t *testing.T, r *jobstest.Redis, queue, id string) asynqWrote {
	t.Helper()
	ctx := context.Background()
	rdb := r.Client()
	var w asynqWrote
	var err error
	w.hash, err = rdb.HGetAll(ctx, asynqTaskKey(queue, id)).Result()
	require.NoError(t, err)
	w.pending, err = rdb.LRange(ctx, asynqKey(queue, "pending"), 0, -1).Result()
	require.NoError(t, err)
	w.queues, err = rdb.SMembers(ctx, asynqQueuesKey).Result()
	require.NoError(t, err)
	w.info, err = asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(queue, id)
	require.NoError(t, err)
	return w
}

// TestPipelinedEnqueueMatchesAsynq: the producer's pipelined enqueue writes what asynq's
// Client.Enqueue writes for the same task with the options reaper used to pass it (the same message
// bytes, state, pending list and queue set; the Inspector reads both back the same), and either one
// sees a task the other enqueued as a duplicate.
func TestPipelinedEnqueueMatchesAsynq(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	vod := providers.Target{Provider: providers.VOD, FileID: "7447398156998994860", SubAppID: 1}
	smh := providers.Target{Provider: providers.SMH, LibraryID: "lib", SpaceID: "-", Path: "media/é/clip.mp4"}
	for _, tc := range []struct {
		name    string
		task    Payload
		timeout time.Duration
	}{
		{"delete, default timeout", Payload{Batch: "b1", Target: vod}, 0},
		{"delete, 90s timeout", Payload{Batch: "b1", Target: smh}, 90 * time.Second},
		{"restore", Payload{Batch: "b2", Target: smh, Op: OpRestore, RecycledItemID: 42}, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, rdb.FlushAll(ctx).Err())
			p := NewProducer(client, NewStore(rdb, StoreOptions{}), ProducerOptions{TaskTimeout: tc.timeout})
			queue, id := QueueName(tc.task.Target.Provider), tc.task.taskID()

			dup, err := p.enqueue(ctx, tc.task)
			require.NoError(t, err)
			require.False(t, dup)
			piped := readAsynqTask(t, r, queue, id)
			require.NotEmpty(t, piped.hash["msg"])

			_, err = client.Enqueue(asynq.NewTask(tc.task.taskType(), piped.info.Payload), asynq.Queue(queue),
				asynq.TaskID(id), asynq.MaxRetry(maxAsynqRetry), asynq.Timeout(p.o.TaskTimeout))
			require.ErrorIs(t, err, asynq.ErrTaskIDConflict, "asynq sees the pipelined task")

			require.NoError(t, rdb.FlushAll(ctx).Err())
			before := time.Now().UnixNano()
			fresh := asynq.NewClientFromRedisClient(rdb) // a client adds a queue to asynq:queues once
			_, err = fresh.Enqueue(asynq.NewTask(tc.task.taskType(), piped.info.Payload), asynq.Queue(queue),
				asynq.TaskID(id), asynq.MaxRetry(maxAsynqRetry), asynq.Timeout(p.o.TaskTimeout))
			require.NoError(t, err)
			byAsynq := readAsynqTask(t, r, queue, id)

			assert.Equal(t, []byte(byAsynq.hash["msg"]), []byte(piped.hash["msg"]), "the TaskMessage bytes")
			for _, w := range []asynqWrote{byAsynq, piped} {
				since, err := strconv.ParseInt(w.hash["pending_since"], 10, 64)
				require.NoError(t, err)
				assert.InDelta(t, before, since, float64(time.Minute))
				delete(w.hash, "pending_since")
				w.info.NextProcessAt = time.Time{} // the time of the read
			}
			assert.Equal(t, byAsynq, piped)

			dup, err = p.enqueue(ctx, tc.task)
			require.NoError(t, err)
			assert.True(t, dup, "the task asynq enqueued is a duplicate")
			assert.Equal(t, byAsynq.hash["msg"], readAsynqTask(t, r, queue, id).hash["msg"], "a duplicate writes nothing")
			assert.Len(t, readAsynqTask(t, r, queue, id).pending, 1)
		})
	}
}

// TestPipelinedEnqueueLoadsTheScript: after SCRIPT FLUSH (a restarted Redis) the script is loaded
// and only the tasks that did not run are sent again, so each is counted once.
func TestPipelinedEnqueueLoadsTheScript(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	ctx := context.Background()
	msgs := make([]asynqMessage, 300)
	for i := range msgs {
		msgs[i] = asynqMessage{Type: "t", Payload: []byte("p"), ID: "id-" + strconv.Itoa(i%200), Queue: "q", Retry: 1, Timeout: time.Minute}
	}
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	res, _, err := pipelineEnqueue(ctx, rdb, msgs)
	require.NoError(t, err)
	counts := map[enqueueResult]int{}
	for _, r := range res {
		counts[r]++
	}
	assert.Equal(t, map[enqueueResult]int{enqueueOK: 200, enqueueDuplicate: 100}, counts)
	assert.Equal(t, int64(200), rdb.LLen(ctx, asynqKey("q", "pending")).Val())
}
