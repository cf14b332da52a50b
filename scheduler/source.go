package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/vod"
)

// Source selects the targets of a policy run. Each policy names one by its source ("search", "list",
// "index"); a provider's listing quirks stay inside its Source.
type Source interface {
	// Select calls fn for every target of policy p older than cutoff, and stops at fn's first error
	// (returning it unchanged) or its own. An error wrapping ErrIncomplete says the targets handed to
	// fn are right but some were out of reach this time (see ErrIncomplete).
	Select(ctx context.Context, p RetentionPolicy, cutoff time.Time, fn func(providers.Target) error) error
}

// Committer is implemented by sources that must hear which of their targets were enqueued (the
// retention index drops their registrations). Dry, refused and failed runs commit nothing.
type Committer interface {
	Commit(ctx context.Context, p RetentionPolicy, cutoff time.Time, enqueued []providers.Target) error
}

// ErrIncomplete marks a selection that found only some of what the policy selects, for a reason
// another run resolves: VOD SearchMedia cannot page past 5,000 media created within one second, and
// reaches the rest once those are deleted. The runner deletes what was found (it all matches the
// policy) and records the error with the run, instead of failing the policy forever. Any other
// selection error fails the run and enqueues nothing.
var ErrIncomplete = errors.New("selection incomplete")

// SkipFunc hears of an entry a source passed over because it could not be used: an SMH listing entry
// whose name holds a control character or whose modificationTime does not parse. Such an entry is
// never a target; skipping it (instead of failing the run) keeps one odd file from stopping a policy
// for good, and the runner counts it on the run record ("skipped") with a warning in the log.
type SkipFunc func(entry string, reason error)

type skipKey struct{}

// WithSkip returns a context whose sources report skipped entries to fn, as net/http/httptrace hands
// hooks down a call. The runner sets it for every selection.
func WithSkip(ctx context.Context, fn SkipFunc) context.Context {
	return context.WithValue(ctx, skipKey{}, fn)
}

// skipped is the SkipFunc of ctx, nil when none was set.
func skipped(ctx context.Context) SkipFunc {
	fn, _ := ctx.Value(skipKey{}).(SkipFunc)
	return fn
}

// Searcher is the VOD SearchMedia call a SearchSource uses (*vod.Client).
type Searcher interface {
	Search(ctx context.Context, f vod.SearchFilter, createdBefore time.Time, fn func(providers.Target, time.Time) error) error
}

// SearchSource selects VOD media created before the cutoff with SearchMedia and the policy's vod
// filters. The sub-application defaults to providers.vod.sub_app_id (the client's).
type SearchSource struct{ Client Searcher }

// Select implements Source.
func (s SearchSource) Select(ctx context.Context, p RetentionPolicy, cutoff time.Time, fn func(providers.Target) error) error {
	f := vod.SearchFilter{SubAppID: p.VOD.SubAppID, ClassIDs: p.VOD.ClassIDs, Categories: p.VOD.Categories,
		SourceTypes: p.VOD.SourceTypes, StorageRegions: p.VOD.StorageRegions}
	err := s.Client.Search(ctx, f, cutoff, func(t providers.Target, _ time.Time) error { return fn(t) })
	if errors.Is(err, vod.ErrTooManyInOneSecond) {
		return fmt.Errorf("%w: %w", ErrIncomplete, err)
	}
	return err
}

// Lister is the SMH directory listing a ListSource uses (*smh.Client).
type Lister interface {
	List(ctx context.Context, q smh.ListQuery, fn func(providers.Target, time.Time) error) error
}

// ListSource selects SMH files modified before the cutoff under each of the policy's prefixes (none:
// the library root), recursively if the policy says so. Library and space default to providers.smh's.
// Entries the listing cannot use are skipped and reported to the context's SkipFunc (WithSkip).
type ListSource struct{ Client Lister }

// Select implements Source.
func (s ListSource) Select(ctx context.Context, p RetentionPolicy, cutoff time.Time, fn func(providers.Target) error) error {
	prefixes := p.SMH.Prefixes
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	for _, prefix := range prefixes {
		q := smh.ListQuery{LibraryID: p.SMH.LibraryID, SpaceID: p.SMH.SpaceID, Prefix: prefix,
			Recursive: p.SMH.Recursive, ModifiedBefore: cutoff, Skipped: skipped(ctx)}
		if err := s.Client.List(ctx, q, func(t providers.Target, _ time.Time) error { return fn(t) }); err != nil {
			return err
		}
	}
	return nil
}

// IndexSource selects the retention index's registrations of the policy's provider that were due at
// or before the cutoff: a registration is due at its registered time, and the policy's min_age is an
// extra delay on top. After an enqueue it drops the registrations it enqueued (unless re-registered
// later meanwhile).
type IndexSource struct{ Index *jobs.Index }

// Select implements Source.
func (s IndexSource) Select(ctx context.Context, p RetentionPolicy, cutoff time.Time, fn func(providers.Target) error) error {
	return s.Index.Due(ctx, providers.Name(p.Provider), cutoff, func(t providers.Target, _ time.Time) error { return fn(t) })
}

// Commit implements Committer.
func (s IndexSource) Commit(ctx context.Context, _ RetentionPolicy, cutoff time.Time, enqueued []providers.Target) error {
	return s.Index.Remove(ctx, cutoff, enqueued...)
}

// NewSources builds the sources the given provider clients offer: "index" always, "search" when a
// client can search (VOD), "list" when one can list (SMH).
func NewSources(index *jobs.Index, clients []providers.Deleter) map[string]Source {
	out := map[string]Source{"index": IndexSource{Index: index}}
	for _, c := range clients {
		if s, ok := c.(Searcher); ok {
			out["search"] = SearchSource{Client: s}
		}
		if l, ok := c.(Lister); ok {
			out["list"] = ListSource{Client: l}
		}
	}
	return out
}
