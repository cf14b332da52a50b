package smh_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/smh"
)

// FuzzBatchAnswer feeds arbitrary batch answers (status and body) to DeleteBatch through a transport
// without a network: whatever SMH or a gateway sends, the client must not panic, must give exactly one
// item per target or a call-level error, and every failure must carry a classified *providers.Error.
func FuzzBatchAnswer(f *testing.F) {
	f.Add(207, `{"result":[{"status":200,"recycledItemId":1,"path":["a.mp4"]},{"status":404,"code":"FileNotFound","path":["b","c.mp4"]}]}`)
	f.Add(200, `{"result":[{"status":"204","path":"a.mp4"},{"status":200}]}`)
	f.Add(200, `{"result":{"result":[{"status":500,"recycledItemId":"x","path":[1,2]}]}}`)
	f.Add(202, `{"taskId":"7"}`)
	f.Add(202, `{"taskId":-1}`)
	f.Add(200, `[{"status":204,"path":null},"x",null,{}]`)
	f.Add(207, `{"result":null}`)
	f.Add(200, `<html>portal</html>`)
	f.Add(500, `{"code":"InternalServerError"}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/api/v1/task/lib/-/7" {
				return response(http.StatusOK, `[{"taskId":7,"status":200,"result":`+body+`}]`), nil
			}
			return response(status, body), nil
		})
		c, err := smh.New(smh.Config{Endpoint: "http://smh.invalid", LibraryID: "lib", AccessToken: "tok",
			HTTPClient: &http.Client{Transport: rt}, TaskPollInterval: time.Millisecond, TaskTimeout: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ts := []providers.Target{
			{Provider: providers.SMH, Path: "a.mp4"},
			{Provider: providers.SMH, Path: "b/c.mp4"},
			{Provider: providers.SMH, Path: "a.mp4"},
		}
		items, err := c.DeleteBatch(context.Background(), ts)
		if err != nil {
			if _, ok := providers.AsError(err); !ok || items != nil {
				t.Fatalf("call-level error %v with %d items", err, len(items))
			}
			if providers.ClassOf(err) == providers.Gone {
				t.Fatalf("a call-level error is never gone: %v", err)
			}
			return
		}
		if len(items) != len(ts) {
			t.Fatalf("%d items for %d targets", len(items), len(ts))
		}
		for i, it := range items {
			if it.Target.Path != ts[i].Path {
				t.Fatalf("item %d is for %v", i, it.Target)
			}
			if it.Err != nil {
				if _, ok := providers.AsError(it.Err); !ok {
					t.Fatalf("item %d: unclassified %v", i, it.Err)
				}
			}
		}
		if items[0].Result != items[2].Result || (items[0].Err == nil) != (items[2].Err == nil) {
			t.Fatalf("one path, two outcomes: %+v / %+v", items[0], items[2])
		}
	})
}
