package smh

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/reaper-media/reaper/providers"
)

// Restore from the recycle bin (www.tencentcloud.com/document/product/1283/75466 and /75467, research
// notes §4.5 and §6):
//
//	POST {endpoint}/api/v1/recycled/{LibraryId}/{SpaceId}?restore&access_token=...   body [1,2,3]
//	POST {endpoint}/api/v1/recycled/{LibraryId}/{SpaceId}/{RecycledItemId}?restore&conflict_resolution_strategy=ask|rename|overwrite&access_token=...
//
// The batch form answers like batch delete (200, 207 or 202 and the task API) with items such as
// {"status":200,"path":["foo","bar"],"recycledItemId":1}, {"status":404,"code":"RecycledItemNotFound"}
// or {"status":409,"code":"SameNameDirectoryOrFileExists"}. Only the single form documents a conflict
// strategy, so Restore sends the batch without one (its items conflict as "ask" would) and, for
// ConflictRename or ConflictOverwrite, restores each item that came back 409 once more through the
// single form with that strategy.

// RestoreGrants are the permissions of the tokens the client creates for restores. They are tokens of
// their own (same library and space, other grants), so a delete token never carries restore_recycled
// and a restore token cannot delete.
const RestoreGrants = "restore_recycled"

// MaxRestore is MaxBatchSize: batch restore takes up to 1,000 ids whatever Config.BatchSize is.
func (c *Client) MaxRestore() int { return MaxBatchSize }

// restoreScope is where a restore call goes: the library and space of its targets, and their user_id.
type restoreScope struct {
	base                   string
	library, space, userID string
}

// Restore puts recycled items back (see providers.Restorer): one batch request for all of reqs, which
// must share a BatchKey (library, space and user_id) and number at most MaxRestore, plus one single
// restore per conflicting item for ConflictRename and ConflictOverwrite. A RecycledItemID given twice is
// sent once and both requests get its outcome; one below 1 (a permanent delete has none) fails alone,
// fatal, code "InvalidRecycledItemId". Items the answer does not account for are failed, retry-class.
// Tokens created from the library secret carry RestoreGrants.
func (c *Client) Restore(ctx context.Context, reqs []providers.RestoreRequest, conflict providers.ConflictStrategy) ([]providers.RestoreItem, error) {
	out := make([]providers.RestoreItem, len(reqs))
	if len(reqs) == 0 {
		return out, nil
	}
	if len(reqs) > MaxBatchSize {
		return nil, invalidBatch("%d recycled items in one restore, at most %d", len(reqs), MaxBatchSize)
	}
	conflict, perr := checkConflict(conflict)
	if perr != nil {
		return nil, perr
	}
	key := c.BatchKey(reqs[0].Target)
	for i, r := range reqs {
		if c.BatchKey(r.Target) != key {
			return nil, invalidBatch("restore requests %d and 1 differ in library, space or user id; group them by BatchKey", i+1)
		}
	}
	scope, perr := c.restoreScope(reqs[0].Target)
	if perr != nil {
		return nil, perr
	}
	var send []int64
	byID := map[int64][]int{}
	for i, r := range reqs {
		out[i] = providers.RestoreItem{Request: r}
		if r.RecycledItemID < 1 {
			out[i].Outcome, out[i].Err = providers.RestoreFailed, invalidItemID()
			continue
		}
		if _, dup := byID[r.RecycledItemID]; !dup {
			send = append(send, r.RecycledItemID)
		}
		byID[r.RecycledItemID] = append(byID[r.RecycledItemID], i)
	}
	if len(send) == 0 {
		return out, nil
	}
	set := func(id int64, outcome providers.RestoreOutcome, path string, err *providers.Error) {
		for _, i := range byID[id] {
			out[i].Outcome, out[i].Path, out[i].Err = outcome, path, errOrNil(err)
		}
	}

	body, _ := json.Marshal(send) // a []int64 always marshals
	call := batchCall{
		c: c, base: scope.base, key: tokenKey{library: scope.library, space: scope.space, grants: RestoreGrants},
		url: func(tok string) string {
			return scope.base + "/api/v1/recycled/" + url.PathEscape(scope.library) + "/" + url.PathEscape(scope.space) +
				"?restore&" + authQuery(tok, scope.userID)
		},
		body: body,
	}
	ans, perr := call.run(ctx)
	if perr != nil {
		return nil, perr
	}
	seen := map[int64]bool{}
	for _, it := range ans.items {
		if it.recycledItemID < 1 || seen[it.recycledItemID] || byID[it.recycledItemID] == nil {
			continue
		}
		seen[it.recycledItemID] = true
		if it.status >= 200 && it.status < 300 {
			set(it.recycledItemID, providers.Restored, it.path, nil)
			continue
		}
		outcome, err := restoreFailure(ans.itemError(c.table, it))
		set(it.recycledItemID, outcome, "", err)
	}
	for _, id := range send {
		if seen[id] {
			continue
		}
		if _, perr := ans.unlisted(); perr != nil {
			set(id, providers.RestoreFailed, "", perr)
		} else {
			set(id, providers.Restored, "", nil)
		}
	}
	if conflict == providers.ConflictRename || conflict == providers.ConflictOverwrite {
		for _, id := range send {
			if out[byID[id][0]].Outcome == providers.RestoreConflict {
				outcome, path, err := c.restoreOne(ctx, scope, id, conflict)
				set(id, outcome, path, err)
			}
		}
	}
	return out, nil
}

// RestoreOne restores one recycled item through the single form, with conflict sent as
// conflict_resolution_strategy ("" is ask). Every failure is the item's (see providers.RestoreItem).
func (c *Client) RestoreOne(ctx context.Context, req providers.RestoreRequest, conflict providers.ConflictStrategy) providers.RestoreItem {
	out := providers.RestoreItem{Request: req}
	conflict, perr := checkConflict(conflict)
	var scope restoreScope
	if perr == nil {
		scope, perr = c.restoreScope(req.Target)
	}
	if perr == nil && req.RecycledItemID < 1 {
		perr = invalidItemID()
	}
	if perr != nil {
		out.Outcome, out.Err = providers.RestoreFailed, perr
		return out
	}
	var err *providers.Error
	out.Outcome, out.Path, err = c.restoreOne(ctx, scope, req.RecycledItemID, conflict)
	out.Err = errOrNil(err)
	return out
}

// restoreOne sends one single-form restore.
func (c *Client) restoreOne(ctx context.Context, s restoreScope, id int64, conflict providers.ConflictStrategy) (providers.RestoreOutcome, string, *providers.Error) {
	var resp response
	perr := c.withToken(ctx, s.base, tokenKey{library: s.library, space: s.space, grants: RestoreGrants}, func(tok string) *providers.Error {
		var err *providers.Error
		resp, err = c.send(ctx, http.MethodPost, s.base+"/api/v1/recycled/"+url.PathEscape(s.library)+"/"+
			url.PathEscape(s.space)+"/"+strconv.FormatInt(id, 10)+"?restore&conflict_resolution_strategy="+
			string(conflict)+"&"+authQuery(tok, s.userID), tok)
		return err
	})
	if perr != nil {
		outcome, err := restoreFailure(perr)
		return outcome, "", err
	}
	var doc struct {
		Path json.RawMessage `json:"path"`
	}
	var path string
	if resp.readErr == nil && json.Unmarshal(resp.body, &doc) == nil {
		path, _ = decodeItemPath(doc.Path)
	}
	return providers.Restored, path, nil
}

// restoreScope applies the defaults to a restore's target and checks where it goes.
func (c *Client) restoreScope(t providers.Target) (restoreScope, *providers.Error) {
	t = c.defaults(t)
	if t.Path == "" {
		t.Path = "x" // a restore names an item, not a path; the rest of the target must still be valid
	}
	base, err := c.check(t)
	if err != nil {
		return restoreScope{}, providers.InvalidTarget(providers.SMH, err)
	}
	return restoreScope{base: base, library: t.LibraryID, space: t.SpaceID, userID: t.UserID}, nil
}

func checkConflict(s providers.ConflictStrategy) (providers.ConflictStrategy, *providers.Error) {
	cs, err := providers.ParseConflictStrategy(string(s))
	if err != nil {
		return "", &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRequest", Err: err}
	}
	return cs, nil
}

func invalidItemID() *providers.Error {
	return &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRecycledItemId",
		Message: "no recycled item id (recycle-bin ids are positive; permanent deletes have none)"}
}

// restoreFailure sorts a restore error into not_found, conflict or failed. A code the delete table
// calls gone (DirectoryNotFound: the original parent directory is missing) means the restore did not
// happen, so it is fatal here.
func restoreFailure(e *providers.Error) (providers.RestoreOutcome, *providers.Error) {
	switch {
	case e.Code == "RecycledItemNotFound":
		e.Class = providers.Fatal
		return providers.RestoreNotFound, e
	case e.Code == "SameNameDirectoryOrFileExists" || e.HTTPStatus == http.StatusConflict:
		e.Class = providers.Fatal
		return providers.RestoreConflict, e
	case e.Class == providers.Gone:
		e.Class = providers.Fatal
	}
	return providers.RestoreFailed, e
}
