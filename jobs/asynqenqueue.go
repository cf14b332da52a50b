package jobs

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// asynq v0.26.0 enqueues one task per round trip (Client.Enqueue runs one script per task) and has no
// batch enqueue; its unreleased BatchEnqueue skips existing task ids without saying so, and reaper
// reports those as duplicates. So the producer runs asynq's own enqueue script itself, many tasks per
// go-redis pipeline, writing exactly what Client.Enqueue writes: the same script (same SHA1), the same
// keys, the same TaskMessage bytes. TestPipelinedEnqueueMatchesAsynq holds it to that.

// asynqEnqueueScript is asynq v0.26.0's enqueueCmd (internal/rdb/rdb.go), character for character.
//
// KEYS[1] -> asynq:{<qname>}:t:<task_id>
// KEYS[2] -> asynq:{<qname>}:pending
// ARGV[1] -> task message data
// ARGV[2] -> task ID
// ARGV[3] -> current unix time in nsec
//
// Returns 1 when the task is enqueued, 0 when its task id exists (a duplicate).
var asynqEnqueueScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then
	return 0
end
redis.call("HSET", KEYS[1],
           "msg", ARGV[1],
           "state", "pending",
           "pending_since", ARGV[3])
redis.call("LPUSH", KEYS[2], ARGV[2])
return 1
`)

// asynqMessage is the part of asynq's TaskMessage that a pending task without deadline, group,
// uniqueness or retention carries.
type asynqMessage struct {
	Type    string
	Payload []byte
	ID      string
	Queue   string
	Retry   int
	Timeout time.Duration // asynq stores whole seconds
}

// encode is proto.Marshal of asynq's internal/proto TaskMessage (asynq.proto) holding m, byte for
// byte: proto3 leaves zero values out and protobuf-go writes fields in field-number order. Client
// sets deadline to time.Unix(0, 0).Unix(), 0, so it is left out too.
func (m asynqMessage) encode() []byte {
	b := make([]byte, 0, len(m.Type)+len(m.Payload)+len(m.ID)+len(m.Queue)+32)
	str := func(num protowire.Number, v []byte) {
		if len(v) > 0 {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		}
	}
	varint := func(num protowire.Number, v int64) {
		if v != 0 {
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	str(1, []byte(m.Type))                  // type
	str(2, m.Payload)                       // payload
	str(3, []byte(m.ID))                    // id
	str(4, []byte(m.Queue))                 // queue
	varint(5, int64(int32(m.Retry)))        // retry (int32)
	varint(8, int64(m.Timeout/time.Second)) // timeout, seconds
	return b
}

// enqueueResult is what asynq's enqueue script did with one task.
type enqueueResult int

const (
	enqueueFailed    enqueueResult = iota // it may or may not have run
	enqueueOK                             // enqueued
	enqueueDuplicate                      // its task id exists: nothing written
)

// pipelineEnqueue runs asynq's enqueue script for every message in one pipeline (after adding their
// queues to asynq:queues, as Client.Enqueue does) and returns each one's result, and the first error
// with the index of its message.
// Scripts that Redis does not know yet (NOSCRIPT: a fresh or restarted server) are loaded and only
// those are sent again.
func pipelineEnqueue(ctx context.Context, rdb redis.UniversalClient, msgs []asynqMessage) (res []enqueueResult, failed int, err error) {
	res = make([]enqueueResult, len(msgs))
	encoded := make([][]byte, len(msgs))
	for i, m := range msgs {
		encoded[i] = m.encode()
	}
	todo := make([]int, len(msgs))
	for i := range todo {
		todo[i] = i
	}
	var firstErr error
	fail := func(i int, err error) {
		if firstErr == nil {
			failed, firstErr = i, err
		}
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		pipe := rdb.Pipeline()
		queues := map[string]bool{}
		for _, i := range todo {
			if !queues[msgs[i].Queue] {
				queues[msgs[i].Queue] = true
				pipe.SAdd(ctx, asynqQueuesKey, msgs[i].Queue)
			}
		}
		now := time.Now().UnixNano()
		cmds := make([]*redis.Cmd, len(todo))
		for j, i := range todo {
			m := msgs[i]
			cmds[j] = asynqEnqueueScript.EvalSha(ctx, pipe, []string{asynqTaskKey(m.Queue, m.ID), asynqKey(m.Queue, "pending")},
				encoded[i], m.ID, now)
		}
		_, _ = pipe.Exec(ctx) // each command's own error is read below
		var again []int
		for j, i := range todo {
			n, err := cmds[j].Int64()
			switch {
			case err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT"):
				again = append(again, i)
			case err != nil:
				fail(i, err)
			case n == 1:
				res[i] = enqueueOK
			case n == 0:
				res[i] = enqueueDuplicate
			default:
				fail(i, fmt.Errorf("unexpected return value from asynq's enqueue script: %d", n))
			}
		}
		if len(again) > 0 {
			if err := asynqEnqueueScript.Load(ctx, rdb).Err(); err != nil {
				fail(again[0], fmt.Errorf("load asynq's enqueue script: %w", err))
				return res, failed, firstErr
			}
		}
		todo = again
	}
	return res, failed, firstErr
}

// enqueuePipelineSize is how many tasks one pipeline carries: enough that the round trip and the
// syscalls are shared by many, few enough that a slow source's first tasks are not held back long.
const enqueuePipelineSize = 128

// enqueuePipelines is how many pipelines an enqueue keeps in flight for ProducerOptions.Parallel: one
// per 8, at least one. Redis runs them one at a time, so more only wait there holding memory; on
// 2 cores 32 pipelines measured slower than 4.
func enqueuePipelines(parallel int) int { return max(1, parallel/8) }

// taskChunk is the tasks of one enqueue pipeline.
type taskChunk []Payload

func (c taskChunk) String() string { return fmt.Sprintf("the %d tasks from %s", len(c), c[0]) }

// chunks groups tasks into chunks of up to n.
func chunks(tasks iter.Seq[Payload], n int) iter.Seq[taskChunk] {
	return func(yield func(taskChunk) bool) {
		c := make(taskChunk, 0, n)
		for t := range tasks {
			c = append(c, t)
			if len(c) == n {
				if !yield(c) {
					return
				}
				c = make(taskChunk, 0, n)
			}
		}
		if len(c) > 0 {
			yield(c)
		}
	}
}
