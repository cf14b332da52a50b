// Package providers is the contract between reaper's deletion pipeline and the media services it deletes
// from: what to delete (Target), what happened (Result), and one error type whose Class tells the pipeline
// what to do next. Each service lives in its own sub-package (mss, smh, vod) with a fake beside it
// (msstest, smhtest, vodtest); providertest holds the conformance suite every client+fake pair passes.
//
// Providers know nothing of queues or Redis. An error is classified once, here in the provider layer,
// and decided on once, in jobs.
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

// Names lists every provider in a stable order, for loops that must cover them all.
var Names = []Name{MSS, SMH, VOD}

// ParseName accepts a provider name as written in manifests and config.
func ParseName(s string) (Name, error) {
	for _, n := range Names {
		if string(n) == s {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown provider %q (want mss, smh or vod)", s)
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
