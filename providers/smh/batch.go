package smh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// Batch delete (www.tencentcloud.com/document/product/1283/75494, research notes §4.3):
//
//	POST {endpoint}/api/v1/batch/{LibraryId}/{SpaceId}?delete&access_token=...&user_id=...
//	[{"path":"foo/bar"},{"path":"foo/2.jpg","permanent":true}]
//
// 200 means every item succeeded, 207 that some or all failed; both carry
// {"result":[{"status":200,"recycledItemId":123,"path":["foo","bar"]},{"status":204,"path":["foo","2.jpg"]}]}.
// 202 {"taskId":N} means SMH runs the batch asynchronously: the client polls
// GET /api/v1/task/{LibraryId}/{SpaceId}/{TaskId} (task status 202 running, 200 done with the same
// result, 204 done without one, 500 failed) for at most Config.TaskTimeout: first after a sixteenth of
// Config.TaskPollInterval, the pause doubling up to TaskPollInterval, so a small task that finishes at
// once costs little waiting and a long one costs few queries.

// Batch limits and defaults.
const (
	// MaxBatchSize is SMH's limit of items per batch request (more answer 400 TooManyItems).
	MaxBatchSize = 1000
	// DefaultBatchSize is Config.BatchSize when it is 0.
	DefaultBatchSize = 100
	// DefaultTaskPollInterval is Config.TaskPollInterval when it is 0.
	DefaultTaskPollInterval = time.Second
	// DefaultTaskTimeout is Config.TaskTimeout when it is 0.
	DefaultTaskTimeout = 2 * time.Minute
)

// batchSettings are the batch knobs of a Client, defaults applied.
type batchSettings struct {
	size       int
	poll, wait time.Duration
}

func (cfg Config) batchSettings() batchSettings {
	s := batchSettings{size: cfg.BatchSize, poll: cfg.TaskPollInterval, wait: cfg.TaskTimeout}
	if s.size == 0 {
		s.size = DefaultBatchSize
	}
	if s.poll == 0 {
		s.poll = DefaultTaskPollInterval
	}
	if s.wait == 0 {
		s.wait = DefaultTaskTimeout
	}
	return s
}

// MaxBatch is Config.BatchSize (default 100, at most 1,000; 1 means batching is off).
func (c *Client) MaxBatch() int { return c.batch.size }

// BatchKey groups targets that can share one batch request: the same library, space and user_id (all
// three are in the request's URL), after the client's defaults.
func (c *Client) BatchKey(t providers.Target) string {
	t = c.defaults(t)
	return "smh/" + url.PathEscape(t.LibraryID) + "/" + url.PathEscape(t.SpaceID) + "?user_id=" + url.QueryEscape(t.UserID)
}

// defaults fills the library and space a target leaves empty from the config.
func (c *Client) defaults(t providers.Target) providers.Target {
	if t.LibraryID == "" {
		t.LibraryID = c.libraryID
	}
	if t.SpaceID == "" {
		t.SpaceID = c.spaceID
	}
	return t
}

// invalidBatch is DeleteBatch's refusal of a batch it must not send.
func invalidBatch(format string, args ...any) *providers.Error {
	return &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidBatch", Message: fmt.Sprintf(format, args...)}
}

// batchDeleteEntry is one element of the batch-delete body.
type batchDeleteEntry struct {
	Path      string `json:"path"`
	Permanent bool   `json:"permanent,omitempty"`
}

// DeleteBatch deletes ts with one batch request (see providers.BatchDeleter). The targets must share
// a BatchKey (library, space and user_id) and number at most MaxBatch: a mixed or oversized batch is
// refused, not split, so one call is one request against the rate limit. An invalid target fails alone
// (fatal, "InvalidTarget") and is not sent. A path given twice is sent once and both targets get its
// outcome (the first one's permanent flag wins). Items are matched to targets by path; an item without
// a path is matched by position when the answer lists exactly one item per path sent. A target the
// answer does not account for is retry-class, code "MissingItemResult"; an asynchronous batch still
// running after Config.TaskTimeout leaves its items retry-class, code "TaskTimeout". A rejected token
// (403 InvalidAccessToken) is renewed and the request sent once more, as for Delete.
func (c *Client) DeleteBatch(ctx context.Context, ts []providers.Target) ([]providers.BatchItem, error) {
	items := make([]providers.BatchItem, len(ts))
	if len(ts) == 0 {
		return items, nil
	}
	if len(ts) > c.batch.size {
		return nil, invalidBatch("%d targets in one batch, at most %d (Config.BatchSize)", len(ts), c.batch.size)
	}
	key := c.BatchKey(ts[0])
	var (
		base    string
		first   providers.Target // the first valid target, defaults applied
		entries []batchDeleteEntry
		byPath  = map[string][]int{} // path -> indices of ts
	)
	for i, t := range ts {
		items[i].Target = t
		if c.BatchKey(t) != key {
			return nil, invalidBatch("targets %d and 1 differ in library, space or user id; group them by BatchKey", i+1)
		}
		t = c.defaults(t)
		b, err := c.check(t)
		if err != nil {
			items[i].Err = providers.InvalidTarget(providers.SMH, err)
			continue
		}
		if base == "" {
			base, first = b, t
		}
		if idx, dup := byPath[t.Path]; dup {
			byPath[t.Path] = append(idx, i)
			continue
		}
		byPath[t.Path] = []int{i}
		entries = append(entries, batchDeleteEntry{Path: t.Path, Permanent: t.Permanent})
	}
	if len(entries) == 0 {
		return items, nil
	}
	body, err := json.Marshal(entries)
	if err != nil {
		return nil, &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRequest", Err: err}
	}
	call := batchCall{
		c: c, base: base, key: tokenKey{library: first.LibraryID, space: first.SpaceID},
		url: func(tok string) string {
			return base + "/api/v1/batch/" + url.PathEscape(first.LibraryID) + "/" + url.PathEscape(first.SpaceID) +
				"?delete&" + authQuery(tok, first.UserID)
		},
		body: body,
	}
	ans, perr := call.run(ctx)
	if perr != nil {
		return nil, perr
	}

	done := make([]bool, len(entries))
	resolve := func(j int, it batchItem) {
		done[j] = true
		res, perr := ans.deleteOutcome(c.table, it)
		for _, i := range byPath[entries[j].Path] {
			items[i].Result, items[i].Err = res, errOrNil(perr)
		}
	}
	pos := map[string]int{}
	for j, e := range entries {
		pos[e.Path] = j
	}
	for k, it := range ans.items {
		j, ok := -1, false
		if it.hasPath {
			j, ok = pos[it.path]
		} else if len(ans.items) == len(entries) {
			j, ok = k, true
		}
		if ok && !done[j] {
			resolve(j, it)
		}
	}
	for j := range entries {
		if !done[j] {
			res, perr := ans.unlisted()
			for _, i := range byPath[entries[j].Path] {
				items[i].Result, items[i].Err = res, errOrNil(perr)
			}
		}
	}
	return items, nil
}

// errOrNil keeps a nil *providers.Error from becoming a non-nil error interface.
func errOrNil(e *providers.Error) error {
	if e == nil {
		return nil
	}
	return e
}

// authQuery is the access_token (and optional user_id) query of a business call.
func authQuery(tok, userID string) string {
	q := "access_token=" + url.QueryEscape(tok)
	if userID != "" {
		q += "&user_id=" + url.QueryEscape(userID)
	}
	return q
}

// batchCall is one batch request (delete or restore) and, when SMH answers 202, the polling of its task.
type batchCall struct {
	c    *Client
	base string
	key  tokenKey
	url  func(tok string) string // the POST's URL with tok
	body []byte
}

// batchAnswer is what a batch call produced: the items SMH listed, and what to make of a request entry
// it did not list.
type batchAnswer struct {
	items      []batchItem
	requestID  string
	retryAfter time.Duration
	secrets    []string // removed from item messages
	// allDone: SMH said every entry succeeded without listing them (a task done without result).
	allDone bool
	// missing is the outcome of an unlisted entry when allDone is false.
	missing *providers.Error
}

// unlisted is the outcome of a request entry no item accounts for.
func (a batchAnswer) unlisted() (providers.Result, *providers.Error) {
	if a.allDone {
		return providers.Result{RequestID: a.requestID}, nil
	}
	e := *a.missing
	return providers.Result{}, &e
}

// deleteOutcome turns one batch-delete item into a target's outcome, classified like a single delete.
func (a batchAnswer) deleteOutcome(table providers.Table, it batchItem) (providers.Result, *providers.Error) {
	switch it.status {
	case http.StatusOK:
		res := providers.Result{RequestID: a.requestID}
		if it.recycledItemID > 0 {
			res.Recycled, res.RecycledItemID = true, it.recycledItemID
		}
		return res, nil
	case http.StatusNoContent:
		return providers.Result{RequestID: a.requestID}, nil
	}
	return providers.Result{}, a.itemError(table, it)
}

// itemError classifies a failed item. An item without a failure status is not one SMH documents: it
// is retried (a repeat of a delete that did work answers FileNotFound).
func (a batchAnswer) itemError(table providers.Table, it batchItem) *providers.Error {
	e := &providers.Error{Provider: providers.SMH, HTTPStatus: it.status, Code: providers.Redact(it.code, a.secrets...),
		Message: providers.Redact(it.message, a.secrets...), RequestID: a.requestID}
	if it.status < 300 {
		e.Class, e.Code = providers.Retry, "InvalidResponse"
		e.Message = fmt.Sprintf("batch item with status %d", it.status)
		return e
	}
	e.Class = table.Classify(it.status, it.code)
	if e.Class == providers.Throttled {
		e.RetryAfter = a.retryAfter
	}
	return e.Bound()
}

// run sends the request (renewing a rejected token once) and, on 202, polls the task to its end.
func (b batchCall) run(ctx context.Context) (batchAnswer, *providers.Error) {
	c := b.c
	var resp response
	var tok string
	perr := c.withToken(ctx, b.base, b.key, func(t string) *providers.Error {
		var err *providers.Error
		tok = t
		resp, err = c.sendJSON(ctx, http.MethodPost, b.url(t), t, b.body)
		return err
	})
	if perr != nil {
		if perr.Class == providers.Gone {
			// Only an item can show that its file is absent; a whole request answered "not found" is
			// something else (a wrong endpoint), and retrying cannot fix it.
			perr.Class = providers.Fatal
		}
		return batchAnswer{}, perr
	}
	ans := batchAnswer{requestID: resp.requestID, secrets: []string{tok, c.librarySecret},
		retryAfter: providers.ParseRetryAfter(resp.header, c.now())}
	invalid := func(msg string) *providers.Error {
		return &providers.Error{Provider: providers.SMH, Class: providers.Retry, HTTPStatus: resp.status,
			Code: "InvalidResponse", Message: msg, RequestID: resp.requestID}
	}
	if resp.readErr != nil {
		return batchAnswer{}, invalid("batch answer could not be read")
	}
	if resp.status == http.StatusAccepted {
		var acc struct {
			TaskID flexInt `json:"taskId"`
		}
		if json.Unmarshal(resp.body, &acc) != nil || acc.TaskID <= 0 {
			return batchAnswer{}, invalid("202 without a taskId")
		}
		return b.await(ctx, ans, int64(acc.TaskID))
	}
	items, ok := decodeResultList(resp.body)
	if !ok && len(bytes.TrimSpace(resp.body)) > 0 {
		return batchAnswer{}, invalid("success status with a body that is not a batch result")
	}
	ans.items = items
	ans.missing = &providers.Error{Provider: providers.SMH, Class: providers.Retry, HTTPStatus: resp.status,
		Code: "MissingItemResult", Message: "the batch answer has no result for this item", RequestID: resp.requestID}
	return ans, nil
}

// taskStatus is one element of the task API's answer: [{"taskId":15,"status":200,"result":{...}}].
type taskStatus struct {
	TaskID flexInt         `json:"taskId"`
	Status int             `json:"status"`
	Result json.RawMessage `json:"result"`
}

// await polls task id until it ends or TaskTimeout passes, with pauses from TaskPollInterval/16
// doubling up to TaskPollInterval. A poll that fails
// transiently (retry, throttled, auth after renewal) or answers something unreadable is simply polled
// again; a poll failing otherwise ends the wait, leaving every item retry-class with that poll's code
// (the batch may or may not have run: a repeat is safe). Cancelling ctx is a call-level error.
func (b batchCall) await(ctx context.Context, ans batchAnswer, id int64) (batchAnswer, *providers.Error) {
	c := b.c
	wctx, cancel := context.WithTimeout(ctx, c.batch.wait)
	defer cancel()
	pause := max(c.batch.poll/16, time.Millisecond)
	timer := time.NewTimer(pause)
	defer timer.Stop()
	ended := func(class providers.Class, status int, code, msg, reqID string) (batchAnswer, *providers.Error) {
		ans.missing = (&providers.Error{Provider: providers.SMH, Class: class, HTTPStatus: status, Code: code,
			Message: fmt.Sprintf("batch task %d: %s", id, msg), RequestID: firstNonEmpty(reqID, ans.requestID)}).Bound()
		return ans, nil
	}
	for {
		select {
		case <-timer.C:
		case <-wctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return batchAnswer{}, providers.TransportError(providers.SMH, err)
		}
		if wctx.Err() != nil {
			return ended(providers.Retry, 0, "TaskTimeout", fmt.Sprintf("still running after %s (Config.TaskTimeout)", c.batch.wait), "")
		}
		var task taskStatus
		var found bool
		var resp response
		perr := c.withToken(wctx, b.base, b.key, func(tok string) *providers.Error {
			var err *providers.Error
			if tok != ans.secrets[0] {
				ans.secrets = append(ans.secrets, tok) // a renewed token, for redacting the task's items
			}
			resp, err = c.send(wctx, http.MethodGet, b.base+"/api/v1/task/"+url.PathEscape(b.key.library)+"/"+
				url.PathEscape(b.key.space)+"/"+strconv.FormatInt(id, 10)+"?"+authQuery(tok, ""), tok)
			if err == nil && resp.readErr == nil {
				task, found = findTask(resp.body, id)
			}
			return err
		})
		switch {
		case ctx.Err() != nil:
			return batchAnswer{}, providers.TransportError(providers.SMH, ctx.Err())
		case wctx.Err() != nil:
			continue // reported as TaskTimeout at the top
		case perr != nil && perr.Class != providers.Retry && perr.Class != providers.Throttled && perr.Class != providers.Auth:
			return ended(providers.Retry, perr.HTTPStatus, perr.Code, "task query failed: "+perr.Message, perr.RequestID)
		case perr != nil || !found || task.Status == http.StatusAccepted:
			pause = min(2*pause, c.batch.poll)
			timer.Reset(pause)
			continue
		}
		ans.requestID = firstNonEmpty(resp.requestID, ans.requestID)
		switch task.Status {
		case http.StatusOK:
			ans.items, _ = decodeResultList(task.Result)
			return ended(providers.Retry, 0, "MissingItemResult", "the task result has no result for this item", resp.requestID)
		case http.StatusNoContent:
			ans.allDone = true
			return ans, nil
		default:
			// 500 (failed) or a status SMH does not document: what it lists stands, the rest is retried.
			ans.items, _ = decodeResultList(task.Result)
			return ended(providers.Retry, task.Status, "TaskFailed", fmt.Sprintf("ended with status %d", task.Status), resp.requestID)
		}
	}
}

// findTask picks task id out of the task API's answer (a list; a lone object is accepted too).
func findTask(body []byte, id int64) (taskStatus, bool) {
	var list []taskStatus
	if err := json.Unmarshal(body, &list); err != nil {
		var one taskStatus
		if json.Unmarshal(body, &one) != nil {
			return taskStatus{}, false
		}
		list = []taskStatus{one}
	}
	for _, t := range list {
		if int64(t.TaskID) == id || t.TaskID == 0 && len(list) == 1 {
			return t, true
		}
	}
	return taskStatus{}, false
}

// batchItem is one parsed element of a batch result: what SMH said about one path or recycled item.
type batchItem struct {
	status         int
	code, message  string
	recycledItemID int64
	path           string // segments joined with '/'
	hasPath        bool
}

// rawBatchItem is an item as sent; fields that may come as strings or numbers are decoded leniently.
type rawBatchItem struct {
	Status         flexInt         `json:"status"`
	Code           string          `json:"code"`
	Message        string          `json:"message"`
	RecycledItemID flexInt         `json:"recycledItemId"`
	Path           json.RawMessage `json:"path"`
}

// decodeResultList reads {"result":[...]} (or a bare list of items). Elements that cannot be read are
// skipped, so one odd item cannot hide the others; their targets end up unlisted.
func decodeResultList(body []byte) ([]batchItem, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, false
	}
	var raws []json.RawMessage
	if body[0] == '[' {
		if json.Unmarshal(body, &raws) != nil {
			return nil, false
		}
	} else {
		var doc struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(body, &doc) != nil {
			return nil, false
		}
		if len(doc.Result) == 0 || json.Unmarshal(doc.Result, &raws) != nil {
			// {"result":{"result":[...]}}: a task result wrapping the batch answer.
			return decodeResultList(doc.Result)
		}
	}
	items := make([]batchItem, 0, len(raws))
	for _, r := range raws {
		var ri rawBatchItem
		if json.Unmarshal(r, &ri) != nil {
			continue
		}
		it := batchItem{status: int(ri.Status), code: ri.Code, message: ri.Message, recycledItemID: int64(ri.RecycledItemID)}
		it.path, it.hasPath = decodeItemPath(ri.Path)
		items = append(items, it)
	}
	return items, true
}

// decodeItemPath reads an item's path: a list of segments (["foo","bar"], as documented) or a string.
func decodeItemPath(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var segs []string
	if json.Unmarshal(raw, &segs) == nil {
		if len(segs) == 0 {
			return "", false
		}
		return strings.Join(segs, "/"), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && strings.Trim(s, "/") != "" {
		return strings.Trim(s, "/"), true
	}
	return "", false
}

// flexInt decodes a JSON number or a string holding one; anything else is 0.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		*n = 0
		return nil
	}
	*n = flexInt(v)
	return nil
}
