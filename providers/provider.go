// Package providers is the contract between reaper's deletion pipeline and the media services it deletes
// from: what to delete (Target), what happened (Result), and one error type whose Class tells the pipeline
// what to do next. Each service lives in its own sub-package (mss, smh, vod) with a fake beside it
// (msstest, smhtest, vodtest); providertest holds the conformance suite every client+fake pair passes.
//
// Providers know nothing of queues or Redis. An error is classified once, here in the provider layer,
// and decided on once, in jobs.
//
// Each provider is described once by a Spec (spec.go; the three reaper ships with are registered in
// services.go): its fields, their checks and its targets' identity, so Target.Validate, Target.Key and
// ParseName never branch on a provider's name. What the three clients share lives here once too: the
// checks of their Config (config.go: CheckEndpoint, CheckSecret, CheckCodes), their HTTP plumbing
// (transport.go: PooledTransport, NoRedirects, HTTPClient, RedirectError; http.go: the body cap,
// Retry-After) and their error text (errors.go: Cut, Snippet, InvalidTarget, TransportError).
package providers

import (
	"context"
	"fmt"
)

// Name identifies a media service. It is the "provider" field of a manifest line.
type Name string

// The services reaper deletes from.
const (
	MSS Name = "mss" // Huawei Cloud MetaStudio, DeleteFile
	SMH Name = "smh" // Tencent Smart Media Hosting, delete file
	VOD Name = "vod" // Tencent Cloud VOD, DeleteMedia
)

// Names lists every registered provider in the order of registration (MSS, SMH, VOD), for loops that
// must cover them all. Register appends to it; nothing else may change it.
var Names []Name

// ParseName accepts a registered provider name as written in manifests and config.
func ParseName(s string) (Name, error) {
	if _, ok := Lookup(Name(s)); ok {
		return Name(s), nil
	}
	return "", fmt.Errorf("unknown provider %q (want %s)", s, wantNames())
}

// Deleter deletes one target at one provider. Implementations are safe for concurrent use.
//
// Delete returns a Result on success. On failure it returns an error that carries a *Error (use
// ClassOf or AsError), so callers can decide on the class without knowing the provider. Errors never
// contain credentials.
type Deleter interface {
	Provider() Name
	Delete(ctx context.Context, t Target) (Result, error)
}

// Result is what a successful delete did.
type Result struct {
	// Recycled is true when the provider moved the file to a recycle bin instead of deleting it
	// (SMH with the recycle bin enabled and permanent=0).
	Recycled bool `json:"recycled,omitempty"`
	// RecycledItemID is the recycle-bin item id (SMH recycledItemId); it is what lets a user restore.
	RecycledItemID int64 `json:"recycled_item_id,omitempty"`
	// RequestID is the provider's request id, for support tickets.
	RequestID string `json:"request_id,omitempty"`
}

// BatchDeleter is implemented by clients whose provider deletes many targets in one call (SMH batch
// delete: up to 1,000 paths per request). It is optional: callers check for it with a type assertion
// and otherwise call Delete once per target. Implementations are safe for concurrent use.
//
// A batch is a set of targets with the same BatchKey and at most MaxBatch of them; callers group
// targets by BatchKey and cut groups at MaxBatch. DeleteBatch refuses anything else before sending a
// request (a call-level error of class fatal, code "InvalidBatch"), rather than splitting it into
// several calls behind the caller's back: one DeleteBatch is one provider call, which is what a shared
// rate limit counts.
//
// DeleteBatch returns exactly one BatchItem per target, in the order of ts. Each item carries its own
// outcome with the same classes a single Delete would give that target: a Result, or an Err holding a
// *Error (already gone: Gone; throttled or 5xx item: Throttled or Retry; renewable credentials: Auth;
// anything permanent, including an invalid target: Fatal). An item the provider's answer does not
// account for is Retry-class: running it again is safe, since a repeat finds a deleted file gone.
//
// When the whole call fails (no usable answer: transport error, throttled or 5xx request, bad
// credentials, cancelled context) DeleteBatch returns nil items and an error carrying a *Error, whose
// class applies to every target of the batch. A call-level answer is never Gone: only an item can
// show that its file is absent.
type BatchDeleter interface {
	Deleter
	// MaxBatch is the most targets one DeleteBatch call takes. 1 means batching is turned off: the
	// caller should use Delete.
	MaxBatch() int
	// BatchKey names the group t belongs to: targets may share a DeleteBatch call only when their
	// keys are equal. Like Delete, it applies the client's defaults (library, space) first.
	BatchKey(t Target) string
	// DeleteBatch deletes every target of ts in one provider call (see the interface comment).
	DeleteBatch(ctx context.Context, ts []Target) ([]BatchItem, error)
}

// BatchItem is the outcome of one target of a DeleteBatch call: Result when Err is nil, else Err
// (carrying a *Error, classified as a single Delete's error would be).
type BatchItem struct {
	Target Target
	Result Result
	Err    error
}

// Restorer is implemented by clients whose provider keeps what a delete recycled and can put it back
// (SMH's recycle bin; a Result with Recycled and a RecycledItemID is what it restores). It is optional,
// like BatchDeleter, and is what an undo of a batch uses. Implementations are safe for concurrent use.
//
// One Restore call is one provider call (plus, for ConflictRename and ConflictOverwrite, one call per
// item that conflicted). Its requests must share a BatchKey and number at most MaxRestore; anything
// else is refused before any request (class fatal, code "InvalidBatch").
//
// Restore returns exactly one RestoreItem per request, in order. When the whole call fails it returns
// nil items and an error carrying a *Error whose class applies to every request.
type Restorer interface {
	BatchDeleter
	// MaxRestore is the most requests one Restore call takes.
	MaxRestore() int
	// Restore puts the recycled items back at their original paths, resolving a path taken since the
	// delete by conflict.
	Restore(ctx context.Context, reqs []RestoreRequest, conflict ConflictStrategy) ([]RestoreItem, error)
}

// RestoreRequest names one recycled item: the target as it was deleted (for its library, space and
// user) and the RecycledItemID its delete's Result gave.
type RestoreRequest struct {
	Target         Target `json:"target"`
	RecycledItemID int64  `json:"recycled_item_id"`
}

// ConflictStrategy is what a restore does when a file exists again at an item's original path.
type ConflictStrategy string

// The strategies (SMH's conflict_resolution_strategy).
const (
	// ConflictAsk restores nothing over an existing file: the item ends RestoreConflict. The default.
	ConflictAsk ConflictStrategy = "ask"
	// ConflictRename restores the item beside the existing file under a new name the provider picks.
	ConflictRename ConflictStrategy = "rename"
	// ConflictOverwrite replaces the existing file.
	ConflictOverwrite ConflictStrategy = "overwrite"
)

// ParseConflictStrategy accepts "ask", "rename" or "overwrite"; "" is ConflictAsk.
func ParseConflictStrategy(s string) (ConflictStrategy, error) {
	switch ConflictStrategy(s) {
	case "":
		return ConflictAsk, nil
	case ConflictAsk, ConflictRename, ConflictOverwrite:
		return ConflictStrategy(s), nil
	}
	return "", fmt.Errorf("unknown conflict strategy %q (want ask, rename or overwrite)", s)
}

// RestoreOutcome is what happened to one recycled item. The values are the outcomes an undo records.
type RestoreOutcome string

// The outcomes.
const (
	Restored        RestoreOutcome = "restored"  // back, at RestoreItem.Path
	RestoreNotFound RestoreOutcome = "not_found" // not in the recycle bin (restored or purged already)
	RestoreConflict RestoreOutcome = "conflict"  // the path is taken and the strategy is ask
	RestoreFailed   RestoreOutcome = "failed"    // anything else; Err's class says whether to retry
)

// RestoreItem is the outcome of one RestoreRequest.
type RestoreItem struct {
	Request RestoreRequest
	Outcome RestoreOutcome
	// Path is where the file is now (Restored) as the provider reports it; empty when it gave none.
	Path string
	// Err is set for every outcome but Restored and carries a *Error: fatal for not_found and conflict;
	// for failed, classified as a delete's error would be (retry, throttled, auth, fatal), never gone.
	Err error
}
