package smh_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// A client with a library secret creates its own access token; with the recycle bin on, a delete
// moves the file there, and a repeat finds it gone.
func Example() {
	fake := smhtest.New(smhtest.Options{}) // one single-tenant library, recycle bin on
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tg := providers.Target{Provider: providers.SMH, LibraryID: smhtest.DefaultLibraryID, Path: "videos/2024/clip #1.mp4"}
	fake.Add(tg)

	c, err := smh.New(smh.Config{Endpoint: srv.URL, LibrarySecret: smhtest.DefaultLibrarySecret})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Delete(context.Background(), tg)
	fmt.Println(res.Recycled, res.RecycledItemID, err)

	_, err = c.Delete(context.Background(), tg)
	pe, _ := providers.AsError(err)
	fmt.Println(pe.Class, pe.Code, pe.HTTPStatus)
	// Output:
	// true 1 <nil>
	// gone FileNotFound 404
}
