package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Batch events: a batch is done (every task of the sealed batch has its outcome) or suspended (the
// failure threshold). The finish and seal scripts put them onto the notify outbox in the same script
// as the change, so they survive any crash; every worker process relays the outbox into the
// reaper-notify queue, whose tasks deliver them: EventDone onto the outcome stream (once), and both
// to the batch's webhook (at least once, retried with backoff). None of it runs in a deletion's slot,
// so a slow or dead webhook never delays an outcome.
const (
	EventDone      = "batch_done"
	EventSuspended = "batch_suspended"
)

// NotifyQueue is the asynq queue of webhook deliveries, served by every worker process.
const NotifyQueue = "reaper-notify"

// notifyTaskType is the asynq task type of a batch event's delivery.
const notifyTaskType = "reaper:notify"

// outboxEvent is an entry of the notify outbox, as the scripts write it.
type outboxEvent struct {
	Batch string `json:"batch"`
	Event string `json:"event"`
	AtMS  int64  `json:"at_ms"`
}

// Notifier delivers a batch event to a webhook: body is the batch's BatchStatus JSON. An error makes
// the delivery run again later. The wiring passes jobs/webhook's Sender (HMAC-signed POSTs).
type Notifier interface {
	Deliver(ctx context.Context, url, event string, body []byte) error
}

// NotifyOptions configures the delivery of batch events; zero values are the documented defaults.
type NotifyOptions struct {
	// Sender POSTs to webhooks; nil delivers stream events only (a batch's webhook is then skipped,
	// with an error in the log).
	Sender Notifier
	// BaseDelay and MaxDelay shape the backoff between failed deliveries: attempt n waits up to
	// min(MaxDelay, BaseDelay·2ⁿ), with full jitter (defaults 5s and 10m).
	BaseDelay, MaxDelay time.Duration
	// MaxAttempts is how many deliveries a webhook gets before it is given up, with an error in the
	// log and the task in asynq's archive (default 20: about three hours at the default backoff).
	MaxAttempts int
	// Concurrency is how many deliveries one worker process runs at once (default 4).
	Concurrency int
	// RelayEvery is how often a worker moves the outbox into the queue (default 1s).
	RelayEvery time.Duration
}

func (o NotifyOptions) withDefaults() NotifyOptions {
	if o.BaseDelay <= 0 {
		o.BaseDelay = 5 * time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 10 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.RelayEvery <= 0 {
		o.RelayEvery = time.Second
	}
	return o
}

// notifier relays the outbox into the notify queue and serves that queue, in a worker process.
type notifier struct {
	o      NotifyOptions
	store  *Store
	client *asynq.Client
	srv    *asynq.Server
	log    *slog.Logger
	stop   context.CancelFunc
	done   chan struct{}
}

func newNotifier(rdb redis.UniversalClient, store *Store, o NotifyOptions, log *slog.Logger) *notifier {
	o = o.withDefaults()
	n := &notifier{o: o, store: store, client: asynq.NewClientFromRedisClient(rdb), log: log}
	n.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: o.Concurrency,
		Queues:      map[string]int{NotifyQueue: 1},
		RetryDelayFunc: func(attempt int, _ error, _ *asynq.Task) time.Duration {
			ceil := o.MaxDelay
			if attempt < 40 {
				if d := o.BaseDelay << attempt; d > 0 && d < ceil {
					ceil = d
				}
			}
			return time.Duration(rand.Float64() * float64(ceil))
		},
		ShutdownTimeout:          5 * time.Second,
		TaskCheckInterval:        200 * time.Millisecond,
		DelayedTaskCheckInterval: 200 * time.Millisecond,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
	})
	return n
}

func (n *notifier) start() error {
	mux := asynq.NewServeMux()
	mux.HandleFunc(notifyTaskType, n.deliver)
	if err := n.srv.Start(mux); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		t := time.NewTicker(n.o.RelayEvery)
		defer t.Stop()
		for {
			if err := n.relay(ctx); err != nil && ctx.Err() == nil {
				n.log.Debug("notify outbox relay", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

func (n *notifier) shutdown() {
	if n.stop != nil {
		n.stop()
		<-n.done
	}
	n.srv.Shutdown()
}

// relay moves the outbox's events into the notify queue, oldest first: peek, enqueue (the task id is
// the event's, so a second relay of it, from another process or after a crash between the two
// steps, is a duplicate asynq refuses), then remove. A crash can only make an event go twice, never
// lose it.
func (n *notifier) relay(ctx context.Context) error {
	rdb := n.store.rdb
	for range 1000 {
		raw, err := rdb.LIndex(ctx, notifyOutboxKey, 0).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		d := sha256.Sum256([]byte(raw))
		_, err = n.client.EnqueueContext(ctx, asynq.NewTask(notifyTaskType, []byte(raw)), asynq.Queue(NotifyQueue),
			asynq.TaskID("ntf-"+hex.EncodeToString(d[:16])), asynq.MaxRetry(n.o.MaxAttempts-1), asynq.Timeout(time.Minute))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue batch event: %w", err)
		}
		if err := rdb.LRem(ctx, notifyOutboxKey, 1, raw).Err(); err != nil {
			return err
		}
	}
	return nil
}

// deliver is the notify queue's handler: one batch event, to the stream and the webhook.
func (n *notifier) deliver(ctx context.Context, t *asynq.Task) error {
	var ev outboxEvent
	if err := json.Unmarshal(t.Payload(), &ev); err != nil || ev.Batch == "" {
		return fmt.Errorf("batch event %q: %w", t.Payload(), asynq.SkipRetry)
	}
	log := n.log.With("batch_id", ev.Batch, "event", ev.Event)
	b, err := n.store.Batch(ctx, ev.Batch)
	if errors.Is(err, ErrNoBatch) {
		log.Warn("batch event for a batch that no longer exists, dropped")
		return nil
	}
	if err != nil {
		return err
	}
	st, _, err := Describe(ctx, n.store, b)
	if err != nil {
		return err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("batch event: %w", asynq.SkipRetry)
	}
	if ev.Event == EventSuspended {
		log.Warn("batch suspended by its failure threshold: reaper resume --batch continues it, reaper cancel ends it",
			"reason", b.SuspendReason)
	}
	if ev.Event == EventDone {
		if err := n.store.streamDone(ctx, ev.Batch, body); err != nil {
			return err
		}
	}
	if b.Notify == "" {
		return nil
	}
	if n.o.Sender == nil {
		log.Error("batch has a webhook but this worker has no webhook sender (REAPER_WEBHOOK_SECRET unset): not delivered")
		return nil
	}
	if err := n.o.Sender.Deliver(ctx, b.Notify, ev.Event, body); err != nil {
		retried, _ := asynq.GetRetryCount(ctx)
		most, _ := asynq.GetMaxRetry(ctx)
		lvl := slog.LevelInfo
		if retried >= most {
			lvl = slog.LevelError // the last attempt: asynq archives the task
		}
		log.Log(ctx, lvl, "webhook delivery failed", "attempt", retried+1, "of", most+1, "error", err)
		return err
	}
	return nil
}

// streamDone puts a batch's done event on the outcome stream once: a redelivery of the event adds no
// second entry.
func (s *Store) streamDone(ctx context.Context, batch string, status []byte) error {
	if s.streamRetention <= 0 {
		return nil
	}
	return streamDoneScript.Run(ctx, s.rdb, []string{metaKey(batch), StreamKey}, batch, status).Err()
}

// streamDoneScript: KEYS[1] batch:<id>  KEYS[2] outcomes stream; ARGV[1] batch id  ARGV[2] status
// JSON. The entry has no "r" field, so readers of outcomes tell it apart.
var streamDoneScript = redis.NewScript(luaWithSchema(`
if redis.call('HSETNX', KEYS[1], '{{done_streamed}}', 1) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', '{{event}}', 'batch_done', 'batch', ARGV[1], 'status', ARGV[2])
return 1
`))
