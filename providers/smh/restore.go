package smh

import (
	"context"
	"encoding/json"
	"fmt"
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
// strategy, so Restore sends the batch without one and, for ConflictRename or ConflictOverwrite,
// restores each item that came back 409 once more through the single form with that strategy.

// RestoreGrants are the permissions of the tokens the client creates for restores. They are separate
// tokens from the delete ones (same library and space, different grants), so a delete token never
// carries restore_recycled and a restore token cannot delete.
const RestoreGrants = "restore_recycled"

// ConflictStrategy is what a restore does when a file already exists at the item's original path.
type ConflictStrategy string

// The strategies of SMH's conflict_resolution_strategy.
const (
	// ConflictAsk restores nothing over an existing file: the item ends RestoreConflict. The default.
	ConflictAsk ConflictStrategy = "ask"
	// ConflictRename restores the item beside the existing file under a new name SMH picks.
	ConflictRename ConflictStrategy = "rename"
	// ConflictOverwrite replaces the existing file (files only; SMH refuses it for directories).
	ConflictOverwrite ConflictStrategy = "overwrite"
)

// ParseConflictStrategy accepts "ask", "rename" or "overwrite" ("" is ask).
func ParseConflictStrategy(s string) (ConflictStrategy, error) {
	switch ConflictStrategy(s) {
	case "":
		return ConflictAsk, nil
	case ConflictAsk, ConflictRename, ConflictOverwrite:
		return ConflictStrategy(s), nil
	}
	return "", fmt.Errorf("unknown conflict strategy %q (want ask, rename or overwrite)", s)
}

// RestoreOutcome is what happened to one recycled item.
type RestoreOutcome string

// The outcomes.
const (
	Restored        RestoreOutcome = "restored"  // back at Path
	RestoreNotFound RestoreOutcome = "not_found" // no such item in the recycle bin (restored or purged already)
	RestoreConflict RestoreOutcome = "conflict"  // a file exists at its path and the strategy is ask
	RestoreFailed   RestoreOutcome = "failed"    // anything else; Err's class says whether to retry
)

// RestoreOptions say where the items are and how to restore them.
type RestoreOptions struct {
	// LibraryID and SpaceID hold the recycle bin. Defaults: Config.LibraryID and Config.SpaceID.
	LibraryID, SpaceID string
	// UserID is sent as user_id (optional).
	UserID string
	// Conflict is the strategy for items whose path is taken. Default ConflictAsk.
	Conflict ConflictStrategy
}

// RestoredItem is the outcome of one recycled item.
type RestoredItem struct {
	RecycledItemID int64
	Outcome        RestoreOutcome
	// Path is where the file is now (Restored), as SMH reports it; empty when SMH gave none.
	Path string
	// Err is set for every outcome but Restored: a *providers.Error with SMH's status and code. Its class
	// is fatal for not_found and conflict; for failed it is classified like a delete's error (retry,
	// throttled, auth or fatal), except that a "not found" code is never gone here.
	Err error
}

// Restore puts recycled items back, with one batch request for at most MaxBatchSize ids (more are
// refused, code "InvalidBatch") plus, for ConflictRename and ConflictOverwrite, one single restore per
// item that conflicted. It returns one RestoredItem per id, in order; an id given twice is sent once and
// both get its outcome. An id below 1 fails alone (fatal, "InvalidRecycledItemId"). The call-level
// error (nil items) means no answer to the batch request: transport failure, throttled or 5xx
// request, bad credentials. Tokens created from the library secret carry RestoreGrants.
func (c *Client) Restore(ctx context.Context, opts RestoreOptions, ids []int64) ([]RestoredItem, error) {
	out := make([]RestoredItem, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > MaxBatchSize {
		return nil, invalidBatch("%d recycled items in one restore, at most %d", len(ids), MaxBatchSize)
	}
	base, opts, perr := c.restoreTarget(opts)
	if perr != nil {
		return nil, perr
	}
	var send []int64
	byID := map[int64][]int{}
	for i, id := range ids {
		out[i].RecycledItemID = id
		if id < 1 {
			out[i].Outcome = RestoreFailed
			out[i].Err = &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRecycledItemId",
				Message: "recycled item ids are positive"}
			continue
		}
		if _, dup := byID[id]; !dup {
			send = append(send, id)
		}
		byID[id] = append(byID[id], i)
	}
	if len(send) == 0 {
		return out, nil
	}
	body, _ := json.Marshal(send) // []int64 always marshals
	call := batchCall{
		c: c, base: base, key: tokenKey{library: opts.LibraryID, space: opts.SpaceID, grants: RestoreGrants},
		url: func(tok string) string {
			return base + "/api/v1/recycled/" + url.PathEscape(opts.LibraryID) + "/" + url.PathEscape(opts.SpaceID) +
				"?restore&" + authQuery(tok, opts.UserID)
		},
		body: body,
	}
	ans, perr := call.run(ctx)
	if perr != nil {
		return nil, perr
	}
	set := func(id int64, it RestoredItem) {
		for _, i := range byID[id] {
			out[i] = it
		}
	}
	seen := map[int64]bool{}
	for _, it := range ans.items {
		if it.recycledItemID < 1 || seen[it.recycledItemID] || byID[it.recycledItemID] == nil {
			continue
		}
		seen[it.recycledItemID] = true
		set(it.recycledItemID, ans.restoreOutcome(c.table, it))
	}
	for _, id := range send {
		if seen[id] {
			continue
		}
		it := RestoredItem{RecycledItemID: id, Outcome: Restored}
		if _, perr := ans.unlisted(); perr != nil {
			it.Outcome, it.Err = RestoreFailed, perr
		}
		set(id, it)
	}
	if opts.Conflict == ConflictRename || opts.Conflict == ConflictOverwrite {
		for _, id := range send {
			if out[byID[id][0]].Outcome == RestoreConflict {
				set(id, c.RestoreOne(ctx, opts, id))
			}
		}
	}
	return out, nil
}

// RestoreOne restores one recycled item through the single form, with opts.Conflict sent as
// conflict_resolution_strategy (default ask). Every failure is the item's: see RestoredItem.Err.
func (c *Client) RestoreOne(ctx context.Context, opts RestoreOptions, id int64) RestoredItem {
	out := RestoredItem{RecycledItemID: id}
	base, opts, perr := c.restoreTarget(opts)
	if perr == nil && id < 1 {
		perr = &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRecycledItemId",
			Message: "recycled item ids are positive"}
	}
	if perr != nil {
		out.Outcome, out.Err = RestoreFailed, perr
		return out
	}
	var resp response
	perr = c.withToken(ctx, base, tokenKey{library: opts.LibraryID, space: opts.SpaceID, grants: RestoreGrants}, func(tok string) *providers.Error {
		var err *providers.Error
		resp, err = c.send(ctx, http.MethodPost, base+"/api/v1/recycled/"+url.PathEscape(opts.LibraryID)+"/"+
			url.PathEscape(opts.SpaceID)+"/"+strconv.FormatInt(id, 10)+"?restore&conflict_resolution_strategy="+
			string(opts.Conflict)+"&"+authQuery(tok, opts.UserID), tok)
		return err
	})
	if perr != nil {
		out.Outcome, out.Err = restoreFailure(perr)
		return out
	}
	var doc struct {
		Path json.RawMessage `json:"path"`
	}
	if resp.readErr == nil && json.Unmarshal(resp.body, &doc) == nil {
		out.Path, _ = decodeItemPath(doc.Path)
	}
	out.Outcome = Restored
	return out
}

// restoreTarget applies the defaults to opts, checks them and returns the endpoint to use.
func (c *Client) restoreTarget(opts RestoreOptions) (string, RestoreOptions, *providers.Error) {
	var err error
	if opts.Conflict, err = ParseConflictStrategy(string(opts.Conflict)); err != nil {
		return "", opts, &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRequest", Err: err}
	}
	probe := c.defaults(providers.Target{Provider: providers.SMH, LibraryID: opts.LibraryID, SpaceID: opts.SpaceID,
		UserID: opts.UserID, Path: "x"})
	opts.LibraryID, opts.SpaceID = probe.LibraryID, probe.SpaceID
	base, err := c.check(probe)
	if err != nil {
		return "", opts, &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidTarget", Err: err}
	}
	return base, opts, nil
}

// restoreOutcome turns one batch-restore item into its outcome.
func (a batchAnswer) restoreOutcome(table providers.Table, it batchItem) RestoredItem {
	out := RestoredItem{RecycledItemID: it.recycledItemID}
	if it.status >= 200 && it.status < 300 {
		out.Outcome, out.Path = Restored, it.path
		return out
	}
	out.Outcome, out.Err = restoreFailure(a.itemError(table, it))
	return out
}

// restoreFailure sorts a restore error into not_found, conflict or failed. A code the delete table
// calls gone (DirectoryNotFound: the original parent directory is missing) means the restore did not
// happen, so it is fatal here.
func restoreFailure(e *providers.Error) (RestoreOutcome, *providers.Error) {
	switch {
	case e.Code == "RecycledItemNotFound":
		e.Class = providers.Fatal
		return RestoreNotFound, e
	case e.Code == "SameNameDirectoryOrFileExists" || e.HTTPStatus == http.StatusConflict:
		e.Class = providers.Fatal
		return RestoreConflict, e
	case e.Class == providers.Gone:
		e.Class = providers.Fatal
	}
	return RestoreFailed, e
}
