package smh_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// One request deletes a batch of paths; each target gets its own outcome, and the recycled ones can
// be put back by their recycle-bin ids.
func ExampleClient_DeleteBatch() {
	fake := smhtest.New(smhtest.Options{}) // one single-tenant library, recycle bin on
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := smh.New(smh.Config{Endpoint: srv.URL, LibraryID: smhtest.DefaultLibraryID,
		LibrarySecret: smhtest.DefaultLibrarySecret, BatchSize: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	var ts []providers.Target
	for _, p := range []string{"clips/a.mp4", "clips/b.mp4", "clips/never-uploaded.mp4"} {
		ts = append(ts, providers.Target{Provider: providers.SMH, Path: p})
	}
	fake.Add(ts[0])
	fake.Add(ts[1])

	items, err := c.DeleteBatch(context.Background(), ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	var undo []providers.RestoreRequest
	for _, it := range items {
		fmt.Printf("%s recycled=%v id=%d class=%q\n", it.Target.Path, it.Result.Recycled, it.Result.RecycledItemID, providers.ClassOf(it.Err))
		if it.Result.Recycled {
			undo = append(undo, providers.RestoreRequest{Target: it.Target, RecycledItemID: it.Result.RecycledItemID})
		}
	}
	fmt.Println("requests:", fake.Requests())

	restored, err := c.Restore(context.Background(), undo, providers.ConflictAsk)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range restored {
		fmt.Println(r.Request.RecycledItemID, r.Outcome, r.Path)
	}
	// Output:
	// clips/a.mp4 recycled=true id=1 class=""
	// clips/b.mp4 recycled=true id=2 class=""
	// clips/never-uploaded.mp4 recycled=false id=0 class="gone"
	// requests: 1
	// 1 restored clips/a.mp4
	// 2 restored clips/b.mp4
}
