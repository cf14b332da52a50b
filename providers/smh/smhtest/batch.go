package smhtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// The batch side of the fake (research notes §4.3 to §4.5):
//
//	POST /api/v1/batch/{LibraryId}/{SpaceId}?delete&access_token=&user_id=     [{"path":"a/b"},{"path":"c","permanent":true}]
//	GET  /api/v1/task/{LibraryId}/{SpaceId}/{TaskIdList}?access_token=
//	POST /api/v1/recycled/{LibraryId}/{SpaceId}?restore&access_token=          [1,2,3]
//	POST /api/v1/recycled/{LibraryId}/{SpaceId}/{RecycledItemId}?restore&conflict_resolution_strategy=ask|rename|overwrite&access_token=
//
// What the fake answers:
//   - The request passes the file API's injector (Faults) and the token checks of a single delete. An
//     empty list is 400 NoItemsProvided, more than MaxBatchItems 400 TooManyItems, a body that is not
//     the documented list 400 InvalidParameter.
//   - Each item is then decided on its own: a fault queued for its path (FailItem), else ItemFaults'
//     decision (an outage is a 503 ServerOverloaded item, a throttle a 429 RateLimitExceeded item, an
//     injected fault its status, code and message; delays and verbatim bodies are ignored per item),
//     else the grant (delete_file, or delete_file_permanent for a permanent delete in a library with a
//     recycle bin: 403 NoPermission), else the delete: 200 with recycledItemId, 204, or 404 FileNotFound.
//     Items carry status, path (a list of segments), recycledItemId, and code and message when failed.
//   - 200 when every item succeeded, 207 otherwise; 202 {"taskId":N} for a batch of at least
//     SetAsync's minItems. An asynchronous batch is carried out at once; its task reports 202 running
//     for runningPolls queries, then 200 with {"result":[...]}.
//   - Restores need restore_recycled (or admin, space_admin). The batch form never overwrites: an item
//     whose original path holds a file is 409 SameNameDirectoryOrFileExists. The single form takes
//     conflict_resolution_strategy: rename (SMH's default) restores as "name (1).ext", overwrite
//     replaces the file, ask answers 409. Items not in the library's recycle bin (or in another space's)
//     are 404 RecycledItemNotFound. Directories are implied by paths, so a restore never lacks its
//     parent directory and restore_path_strategy is accepted and ignored.

// MaxBatchItems is the most items one batch request may hold.
const MaxBatchItems = 1000

// batchState is the fake's batch machinery: per-item faults, the async knob, tasks and counters.
type batchState struct {
	itemFaults *faults.Injector

	mu           sync.Mutex
	pathFaults   map[string][]faults.Fault // Target.Key() -> queued item faults
	asyncMin     int                       // 0: never asynchronous
	runningPolls int                       // < 0: tasks never finish
	tasks        map[int64]*task
	nextTask     int64

	requests, batchCalls, taskCalls, restoreCalls atomic.Int64
}

// task is one asynchronous batch.
type task struct {
	library, space string
	polls          int
	result         any
}

func (b *batchState) init(opts Options) {
	b.itemFaults = faults.New(opts.Seed + 3)
	b.itemFaults.SetClock(opts.Now)
	b.pathFaults = map[string][]faults.Fault{}
	b.tasks = map[int64]*task{}
}

// count tallies a request to a business API that deletes or restores (not tokens or listings).
func (b *batchState) count(escapedPath string) {
	for _, p := range []string{"/api/v1/file/", "/api/v1/batch/", "/api/v1/task/", "/api/v1/recycled/"} {
		if strings.HasPrefix(escapedPath, p) {
			b.requests.Add(1)
			return
		}
	}
}

// ItemFaults is the injector consulted once per item of a batch delete or batch restore (after any
// FailItem fault), so a test can fail a share of the items of a batch that itself succeeds.
func (f *Fake) ItemFaults() *faults.Injector { return f.batch.itemFaults }

// FailItem makes the next n batch-delete items naming t's file answer fl instead of being deleted.
// fl.Status defaults to 500; fl.Body is ignored (items are JSON).
func (f *Fake) FailItem(t providers.Target, n int, fl faults.Fault) {
	k := f.normalize(t).Key()
	f.batch.mu.Lock()
	defer f.batch.mu.Unlock()
	for range n {
		f.batch.pathFaults[k] = append(f.batch.pathFaults[k], fl)
	}
}

// SetAsync makes batch deletes and batch restores of at least minItems items answer 202 with a task
// (0 turns it off, the default), whose query reports it running runningPolls times before it is done
// (a negative runningPolls: never done).
func (f *Fake) SetAsync(minItems, runningPolls int) {
	f.batch.mu.Lock()
	defer f.batch.mu.Unlock()
	f.batch.asyncMin, f.batch.runningPolls = minItems, runningPolls
}

// Requests counts requests to the delete, batch, task and restore APIs (not tokens or listings),
// whatever their answer: with Deleted, what a benchmark reports as calls per file.
func (f *Fake) Requests() int { return int(f.batch.requests.Load()) }

// BatchCalls counts batch-delete requests, whatever their answer.
func (f *Fake) BatchCalls() int { return int(f.batch.batchCalls.Load()) }

// TaskCalls counts task queries, whatever their answer.
func (f *Fake) TaskCalls() int { return int(f.batch.taskCalls.Load()) }

// RestoreCalls counts restore requests (batch and single), whatever their answer.
func (f *Fake) RestoreCalls() int { return int(f.batch.restoreCalls.Load()) }

// batchItem is one element of a batch answer.
type batchItem struct {
	Status         int      `json:"status"`
	Code           string   `json:"code,omitempty"`
	Message        string   `json:"message,omitempty"`
	RecycledItemID int64    `json:"recycledItemId,omitempty"`
	Path           []string `json:"path,omitempty"`
}

type batchResult struct {
	Result []batchItem `json:"result"`
}

// splitSpace decodes {LibraryId}/{SpaceId}[/{rest}] of a batch, task or restore URL.
func splitSpace(rest string) (lib, space, tail string, ok bool) {
	segs := strings.SplitN(rest, "/", 3)
	if len(segs) < 2 {
		return "", "", "", false
	}
	if code, _ := decodeSegments(segs[:2]); code != "" {
		return "", "", "", false
	}
	if len(segs) == 3 {
		tail = segs[2]
	}
	return segs[0], segs[1], tail, true
}

// serveBatchDelete implements POST /api/v1/batch/{LibraryId}/{SpaceId}?delete.
func (f *Fake) serveBatchDelete(w http.ResponseWriter, r *http.Request, rest string) {
	f.batch.batchCalls.Add(1)
	libID, spaceID, tail, ok := splitSpace(rest)
	if !ok || tail != "" {
		f.writeError(w, http.StatusNotFound, "InvalidPath", "Not a batch URL.")
		return
	}
	q := r.URL.Query()
	var entries []struct {
		Path      string `json:"path"`
		Permanent bool   `json:"permanent"`
	}
	decodeErr := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&entries)
	if decodeErr == nil {
		for _, e := range entries {
			// Counted before the injector, as single deletes are: "calls that named t, whatever their answer".
			f.calls.Add(providers.Target{Provider: providers.SMH, LibraryID: libID, SpaceID: spaceID, Path: e.Path}.Key())
		}
	}
	if !f.injected(w, r, f.faults) {
		return
	}
	switch {
	case r.Method != http.MethodPost:
		f.writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
		return
	case !q.Has("delete"):
		f.writeError(w, http.StatusBadRequest, "InvalidParameter", "The batch operation (delete) is missing.")
		return
	case decodeErr != nil:
		f.writeError(w, http.StatusBadRequest, "InvalidParameter", "The body is not a list of {path, permanent}.")
		return
	case len(entries) == 0:
		f.writeError(w, http.StatusBadRequest, "NoItemsProvided", "")
		return
	case len(entries) > MaxBatchItems:
		f.writeError(w, http.StatusBadRequest, "TooManyItems", "")
		return
	}
	lib, tok, now, ok := f.authorize(w, q, libID, spaceID)
	if !ok {
		return
	}
	tok.extend(now)
	items := make([]batchItem, len(entries))
	f.mu.Lock()
	for i, e := range entries {
		items[i] = f.batchDeleteItem(lib, tok, libID, spaceID, e.Path, e.Permanent, now)
	}
	f.mu.Unlock()
	f.answerBatch(w, libID, spaceID, items)
}

// batchDeleteItem decides one item of a batch delete. f.mu is held.
func (f *Fake) batchDeleteItem(lib *library, tok *token, libID, spaceID, path string, permanent bool, now time.Time) batchItem {
	segs := strings.Split(path, "/")
	it := batchItem{Path: segs}
	if fl, ok := f.itemFault(providers.Target{Provider: providers.SMH, LibraryID: libID, SpaceID: spaceID, Path: path}.Key()); ok {
		return f.failed(it, fl)
	}
	if err := providers.CheckPath(path); err != nil {
		return f.failed(it, faults.Fault{Status: http.StatusBadRequest, Code: "InvalidPath", Message: "Invalid path."})
	}
	need := "delete_file"
	if lib.RecycleBin && permanent {
		need = "delete_file_permanent"
	}
	if !tok.can(need) {
		return f.failed(it, faults.Fault{Status: http.StatusForbidden, Code: "NoPermission"})
	}
	item, ok := f.removeLocked(lib, libID, spaceID, path, permanent, now)
	switch {
	case !ok:
		return f.failed(it, faults.Fault{Status: http.StatusNotFound, Code: "FileNotFound"})
	case item > 0:
		it.Status, it.RecycledItemID = http.StatusOK, item
	default:
		it.Status = http.StatusNoContent
	}
	return it
}

// itemFault returns the fault for one item: one queued by FailItem for key, else ItemFaults' decision.
func (f *Fake) itemFault(key string) (faults.Fault, bool) {
	f.batch.mu.Lock()
	if q := f.batch.pathFaults[key]; len(q) > 0 {
		f.batch.pathFaults[key] = q[1:]
		f.batch.mu.Unlock()
		return q[0], true
	}
	f.batch.mu.Unlock()
	switch d := f.batch.itemFaults.Decide(); d.Kind {
	case faults.Outage:
		return faults.Fault{Status: http.StatusServiceUnavailable, Code: "ServerOverloaded"}, true
	case faults.Throttled:
		return faults.Fault{Status: http.StatusTooManyRequests, Code: "RateLimitExceeded"}, true
	case faults.Injected:
		return d.Fault, true
	}
	return faults.Fault{}, false
}

// failed fills it with fl's status, code and message (defaults as writeError's).
func (f *Fake) failed(it batchItem, fl faults.Fault) batchItem {
	it.Status, it.Code, it.Message = fl.Status, fl.Code, fl.Message
	if it.Status == 0 {
		it.Status = http.StatusInternalServerError
	}
	if it.Message == "" {
		it.Message = messages[it.Code]
	}
	if it.Message == "" {
		it.Message = http.StatusText(it.Status)
	}
	return it
}

// answerBatch answers 200 (all succeeded), 207 (not all), or 202 with a task holding the result.
func (f *Fake) answerBatch(w http.ResponseWriter, libID, spaceID string, items []batchItem) {
	status := http.StatusOK
	for _, it := range items {
		if it.Status < 200 || it.Status > 299 {
			status = http.StatusMultiStatus
		}
	}
	f.batch.mu.Lock()
	if f.batch.asyncMin > 0 && len(items) >= f.batch.asyncMin {
		f.batch.nextTask++
		id := f.batch.nextTask
		f.batch.tasks[id] = &task{library: libID, space: spaceID, result: batchResult{items}}
		f.batch.mu.Unlock()
		f.writeJSON(w, http.StatusAccepted, struct {
			TaskID int64 `json:"taskId"`
		}{id})
		return
	}
	f.batch.mu.Unlock()
	f.writeJSON(w, status, batchResult{items})
}

// taskAnswer is one element of the task API's answer.
type taskAnswer struct {
	TaskID int64 `json:"taskId"`
	Status int   `json:"status"`
	Result any   `json:"result,omitempty"`
}

// serveTask implements GET /api/v1/task/{LibraryId}/{SpaceId}/{TaskIdList}: the listed tasks of that
// space, 404 TaskNotFound when it knows none of them.
func (f *Fake) serveTask(w http.ResponseWriter, r *http.Request, rest string) {
	f.batch.taskCalls.Add(1)
	libID, spaceID, tail, ok := splitSpace(rest)
	if !ok || tail == "" {
		f.writeError(w, http.StatusNotFound, "InvalidPath", "Not a task URL.")
		return
	}
	if !f.injected(w, r, f.faults) {
		return
	}
	if r.Method != http.MethodGet {
		f.writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
		return
	}
	_, tok, now, ok := f.authorize(w, r.URL.Query(), libID, spaceID)
	if !ok {
		return
	}
	tok.extend(now)
	var out []taskAnswer
	f.batch.mu.Lock()
	for _, s := range strings.Split(tail, ",") {
		id, err := strconv.ParseInt(s, 10, 64)
		t := f.batch.tasks[id]
		if err != nil || t == nil || t.library != libID || t.space != spaceID {
			continue
		}
		t.polls++
		if f.batch.runningPolls < 0 || t.polls <= f.batch.runningPolls {
			out = append(out, taskAnswer{TaskID: id, Status: http.StatusAccepted})
		} else {
			out = append(out, taskAnswer{TaskID: id, Status: http.StatusOK, Result: t.result})
		}
	}
	f.batch.mu.Unlock()
	if len(out) == 0 {
		f.writeError(w, http.StatusNotFound, "TaskNotFound", "")
		return
	}
	f.writeJSON(w, http.StatusOK, out)
}

// serveRestore implements the batch (POST .../{SpaceId}?restore) and single (POST
// .../{SpaceId}/{RecycledItemId}?restore) restore.
func (f *Fake) serveRestore(w http.ResponseWriter, r *http.Request, rest string) {
	f.batch.restoreCalls.Add(1)
	libID, spaceID, tail, ok := splitSpace(rest)
	if !ok {
		f.writeError(w, http.StatusNotFound, "InvalidPath", "Not a recycle-bin URL.")
		return
	}
	if !f.injected(w, r, f.faults) {
		return
	}
	q := r.URL.Query()
	if r.Method != http.MethodPost {
		f.writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
		return
	}
	if !q.Has("restore") {
		f.writeError(w, http.StatusBadRequest, "InvalidParameter", "The operation (restore) is missing.")
		return
	}
	var single int64
	if tail != "" {
		id, err := strconv.ParseInt(tail, 10, 64)
		if err != nil || id < 1 {
			f.writeError(w, http.StatusBadRequest, "InvalidParameter", "The recycled item id is not a positive integer.")
			return
		}
		single = id
	}
	strategy := q.Get("conflict_resolution_strategy")
	switch strategy {
	case "":
		strategy = "rename" // the single form's documented default
	case "ask", "rename", "overwrite":
	default:
		f.writeError(w, http.StatusBadRequest, "InvalidParameter", "conflict_resolution_strategy must be ask, rename or overwrite.")
		return
	}
	var ids []int64
	if single == 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ids); err != nil {
			f.writeError(w, http.StatusBadRequest, "InvalidParameter", "The body is not a list of recycled item ids.")
			return
		}
		switch {
		case len(ids) == 0:
			f.writeError(w, http.StatusBadRequest, "NoItemsProvided", "")
			return
		case len(ids) > MaxBatchItems:
			f.writeError(w, http.StatusBadRequest, "TooManyItems", "")
			return
		}
	}
	_, tok, now, ok := f.authorize(w, q, libID, spaceID)
	if !ok {
		return
	}
	if !tok.can("restore_recycled") {
		f.writeError(w, http.StatusForbidden, "NoPermission", "")
		return
	}
	tok.extend(now)
	if single != 0 {
		f.mu.Lock()
		it := f.restoreLocked(libID, spaceID, single, strategy)
		f.mu.Unlock()
		if it.Status != http.StatusOK {
			f.writeError(w, it.Status, it.Code, it.Message)
			return
		}
		f.writeJSON(w, http.StatusOK, struct {
			Path []string `json:"path"`
		}{it.Path})
		return
	}
	items := make([]batchItem, len(ids))
	f.mu.Lock()
	for i, id := range ids {
		if fl, ok := f.itemFault(fmt.Sprintf("recycled/%s/%d", libID, id)); ok {
			items[i] = f.failed(batchItem{RecycledItemID: id}, fl)
			continue
		}
		items[i] = f.restoreLocked(libID, spaceID, id, "ask")
	}
	f.mu.Unlock()
	f.answerBatch(w, libID, spaceID, items)
}

// restoreLocked restores one recycled item with a conflict strategy (ask, rename or overwrite). f.mu is
// held.
func (f *Fake) restoreLocked(libID, spaceID string, id int64, strategy string) batchItem {
	ri, found := f.recycled[libID][id]
	out := batchItem{RecycledItemID: id}
	if !found || ri.SpaceID != spaceID {
		return f.failed(out, faults.Fault{Status: http.StatusNotFound, Code: "RecycledItemNotFound"})
	}
	sk := spaceKey{libID, spaceID}
	path := ri.Path
	if _, taken := f.spaces[sk][path]; taken {
		switch strategy {
		case "ask":
			return f.failed(out, faults.Fault{Status: http.StatusConflict, Code: "SameNameDirectoryOrFileExists"})
		case "rename":
			path = f.freeName(sk, path)
		}
	}
	delete(f.recycled[libID], id)
	f.addLocked(sk, path, ri.ModTime)
	out.Status, out.Path = http.StatusOK, strings.Split(path, "/")
	return out
}

// freeName returns path with " (n)" before its extension, for the smallest n not taken.
func (f *Fake) freeName(sk spaceKey, path string) string {
	dir, name := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, name = path[:i+1], path[i+1:]
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	for n := 1; ; n++ {
		p := fmt.Sprintf("%s%s (%d)%s", dir, stem, n, ext)
		if _, taken := f.spaces[sk][p]; !taken {
			return p
		}
	}
}

// FailRestoreItem makes the next n batch-restore items naming recycled item id of libraryID answer fl.
func (f *Fake) FailRestoreItem(libraryID string, id int64, n int, fl faults.Fault) {
	k := fmt.Sprintf("recycled/%s/%d", libraryID, id)
	f.batch.mu.Lock()
	defer f.batch.mu.Unlock()
	for range n {
		f.batch.pathFaults[k] = append(f.batch.pathFaults[k], fl)
	}
}
