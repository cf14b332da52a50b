package jobs_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// A Go service enqueues deletions with a Producer: validate each target (Prepare names the field at
// fault), then Submit them as one batch. The same target already queued is a duplicate, not a second
// delete. Workers (Pipeline.NewWorker) do the deleting; Store.Batch and Store.Records report on it.
func ExampleProducer() {
	mr, err := miniredis.Run() // a real deployment passes its Redis; the example embeds one
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	store := jobs.NewStore(rdb, jobs.StoreOptions{})
	producer := jobs.NewProducer(asynq.NewClientFromRedisClient(rdb), store, jobs.ProducerOptions{})

	bad := providers.Target{Provider: providers.SMH, LibraryID: "smhxxx", SpaceID: "-", Path: "foo//bar.mp4"}
	fmt.Println(producer.Prepare(&bad))

	targets := []providers.Target{
		{Provider: providers.VOD, FileID: "7447398156998994860", SubAppID: 1},
		{Provider: providers.SMH, LibraryID: "smhxxx", SpaceID: "-", Path: "foo/bar2/file.docx"},
		{Provider: providers.VOD, FileID: "7447398156998994860", SubAppID: 1},
	}
	sum, err := producer.Submit(context.Background(), jobs.BatchMeta{ID: "example", SubmittedBy: "docs"}, slices.Values(targets), nil)
	if err != nil {
		panic(err)
	}
	b, _ := store.Batch(context.Background(), sum.Batch)
	fmt.Printf("batch %s: %d enqueued (vod %d, smh %d), %d duplicate; pending %d\n",
		sum.Batch, sum.Enqueued, sum.ByProvider[providers.VOD], sum.ByProvider[providers.SMH], sum.Duplicates, b.Pending())
	// Output:
	// field path: segment 2 is empty (leading, trailing or doubled '/')
	// batch example: 2 enqueued (vod 1, smh 1), 1 duplicate; pending 2
}
