package vod

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/reaper-media/reaper/providers"
)

// Search finds the media a retention policy selects with SearchMedia (API version 2018-07-17).
//
// What this file relies on, as documented in the API's generated reference: the SDK's
// vod/v20180717/models.go (SearchMediaRequestParams, SearchMediaResponseParams, TimeRange, SortBy,
// MediaInfo, MediaBasicInfo) and the SearchMedia comment in client.go, which carry the text of
// cloud.tencent.com/document/api/266/31813 (English: tencentcloud.com/document/product/266/34179):
//
//   - Offset (default 0) and Limit (default 10): "Offset + Limit is no more than 5000"; Limit has no
//     other maximum. Past that the documented error is InvalidParameterValue.Offset.
//   - TotalCount: "Maximum value: 5000. When the number of records hit exceeds 5000, this field will
//     return 5000 instead of the actual total count." A query has been paged completely only when its
//     TotalCount is below 5000.
//   - CreateTime is a TimeRange of ISO 8601 strings: After is "after or at this time", Before "earlier
//     than this time". (SearchMedia's own text for CreateTime says both ends are included. Search makes
//     the conflict harmless: it checks every returned CreateTime against its half-open window itself.)
//   - Sort is {Field: "CreateTime" (the only field), Order: "Asc" | "Desc"}.
//   - Filters ["basicInfo"] trims each MediaInfo to FileId and BasicInfo, whose CreateTime reads
//     "2006-01-02T15:04:05Z" (whole seconds).
//   - ClassIds (at most 10, subcategories included), Categories (Video, Audio, Image), SourceTypes (at
//     most 10), StorageRegions (at most 20, each at most 20 characters): any element of a list matches,
//     and all parameters must match.
//   - SubAppId as for DeleteMedia. Documented errors: FailedOperation(.InvalidVodUser), InternalError
//     (.GetMediaListError), InvalidParameterValue.{Categories,ClassIds,Offset,Sort,SourceTypes,
//     StorageRegions,SubAppId,...}, LimitExceeded, UnauthorizedOperation; plus the common codes.
//   - Rate limit: 100 requests/second by default (the English 266/34179 page). Search sends one
//     request at a time and exposes no pacing of its own: the caller paces.
//
// Because no query pages past 5,000 results, Search splits the creation-time range into windows until
// each holds fewer than 5,000 matches, and pages each window on its own: any number of media is
// reachable, except more than 5,000 created within the same second, which Search reports as
// ErrTooManyInOneSecond.

const (
	actionSearch = "SearchMedia"
	// SearchResultLimit is how deep SearchMedia pages one query: Offset+Limit <= 5000, and TotalCount
	// never reports more than 5000.
	SearchResultLimit = 5000
	// searchPageSize is the Limit Search asks for first. A page of 500 basicInfo entries is a few
	// hundred KiB; a page over the 1 MiB body cap is asked again with half the Limit.
	searchPageSize = 500
	// isoSecond is the ISO 8601 form VOD documents (document 266/11732) and returns.
	isoSecond = "2006-01-02T15:04:05Z"
)

// SearchCategories are the file types SearchFilter.Categories accepts, as SearchMedia documents them.
var SearchCategories = []string{"Video", "Audio", "Image"}

// ErrTooManyInOneSecond is wrapped by the error Search returns when more than SearchResultLimit
// matching media share one creation second: SearchMedia cannot page past 5000 results and a second
// cannot be split, so only the first 5000 of that second were handed to fn. Running the search again
// once those are deleted reaches the next ones.
var ErrTooManyInOneSecond = errors.New("more than 5000 matching media were created within one second")

// SearchFilter narrows a Search, as a retention policy's optional filters. Empty lists do not filter;
// within a list any element matches, and every non-empty list must match.
type SearchFilter struct {
	// SubAppID is the application to search and the SubAppID of the targets found (0: Config.SubAppID).
	SubAppID uint64
	// ClassIDs keeps media in any of these categories or their subcategories (at most 10, each >= 0;
	// 0 is VOD's default "other" category).
	ClassIDs []int64
	// Categories keeps media of these file types: "Video", "Audio" or "Image" (SearchCategories).
	Categories []string
	// SourceTypes keeps media from these sources, such as "Upload" or "Record" (at most 10).
	SourceTypes []string
	// StorageRegions keeps media stored in these regions, such as "ap-guangzhou" (at most 20).
	StorageRegions []string
}

// Validate checks the filter against SearchMedia's documented limits, so a policy typo fails before
// any request. Each problem is a *providers.FieldError naming the field as a policy spells it.
func (f SearchFilter) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &providers.FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if len(f.ClassIDs) > 10 {
		bad("class_ids", "%d given, SearchMedia accepts at most 10", len(f.ClassIDs))
	}
	for _, id := range f.ClassIDs {
		if id < 0 {
			bad("class_ids", "%d is not a category id", id)
		}
	}
	for _, c := range f.Categories {
		if !slices.Contains(SearchCategories, c) {
			bad("categories", "%q is not one of %s", c, strings.Join(SearchCategories, ", "))
		}
	}
	if len(f.SourceTypes) > 10 {
		bad("source_types", "%d given, SearchMedia accepts at most 10", len(f.SourceTypes))
	}
	for _, s := range f.SourceTypes {
		if s == "" || strings.ContainsFunc(s, notPrintable) {
			bad("source_types", "%q is not a source type such as Upload or Record", s)
		}
	}
	if len(f.StorageRegions) > 20 {
		bad("storage_regions", "%d given, SearchMedia accepts at most 20", len(f.StorageRegions))
	}
	for _, r := range f.StorageRegions {
		if len(r) > 20 || !regionPattern.MatchString(r) {
			bad("storage_regions", "%q is not a region such as ap-guangzhou", r)
		}
	}
	return errors.Join(errs...)
}

// Search calls fn once for each media matching f that was created strictly before createdBefore,
// oldest first within each time window, with a Target ready for Delete (FileID, and SubAppID as
// searched) and the media's creation time. It stops at the first error: fn's own, unchanged; a
// *providers.Error classified like Delete's (Throttled with RetryAfter when VOD asks to slow down); or
// ctx's end. Without other errors, seconds holding more than 5000 matches make Search return, after
// every other window was searched, a *providers.Error wrapping ErrTooManyInOneSecond.
//
// How: the first query covers everything before the cutoff, sorted by CreateTime ascending. While a
// window's TotalCount reaches 5000 (the documented cap) it is halved by time, on whole seconds, down to
// one second; the first query's oldest result is where the halving starts. Windows are half-open,
// [After, Before), so a media belongs to exactly one, and each returned CreateTime is checked against
// its window and the cutoff here. A window's results (fewer than 5000) are all collected before fn sees
// the first of them, so deletions fn starts cannot shift the pages still to be read.
//
// Search sends one request at a time, each bounded by Config.Timeout.
func (c *Client) Search(ctx context.Context, f SearchFilter, createdBefore time.Time,
	fn func(t providers.Target, created time.Time) error) error {
	if f.SubAppID == 0 {
		f.SubAppID = c.subAppID
	}
	if err := f.Validate(); err != nil {
		return invalidFilter(err.Error())
	}
	if createdBefore.IsZero() {
		return invalidFilter("createdBefore is required")
	}
	if fn == nil {
		return invalidFilter("fn is required")
	}
	s := &searcher{c: c, filter: f, cutoff: createdBefore, fn: fn, limit: searchPageSize}
	if err := s.window(ctx, time.Time{}, ceilSecond(createdBefore), false); err != nil {
		return err
	}
	return s.denseError()
}

func invalidFilter(msg string) error {
	return &providers.Error{Provider: providers.VOD, Class: providers.Fatal, Code: "InvalidFilter", Message: msg}
}

// ceilSecond is the first whole second at or after t, in UTC.
func ceilSecond(t time.Time) time.Time {
	t = t.UTC()
	s := t.Truncate(time.Second)
	if s.Before(t) {
		s = s.Add(time.Second)
	}
	return s
}

// searcher is one Search in progress.
type searcher struct {
	c      *Client
	filter SearchFilter
	cutoff time.Time
	fn     func(providers.Target, time.Time) error
	limit  int         // page size, halved when a page exceeds the body cap
	dense  []time.Time // seconds holding more than SearchResultLimit matches
}

// foundMedia is one MediaInfo, reduced to what Search needs.
type foundMedia struct {
	fileID  string
	created time.Time
}

// mediaPage is one SearchMedia answer.
type mediaPage struct {
	total int // capped at SearchResultLimit by the service
	items []foundMedia
}

// window searches [from, to): from is zero for "since the beginning", to is a whole second. A probe
// asks for one result first instead of a page: the halves of a window over the cap are often over it
// too, and then a page would be read for nothing. A probe that fits is paged on from offset 1.
func (s *searcher) window(ctx context.Context, from, to time.Time, probe bool) error {
	limit := s.limit
	if probe {
		limit = 1
	}
	first, limit, err := s.query(ctx, from, to, 0, limit)
	if err != nil {
		return err
	}
	if first.total < SearchResultLimit {
		return s.drain(ctx, from, to, first, limit)
	}
	if from.IsZero() {
		if len(first.items) == 0 {
			return invalidResponse(fmt.Sprintf("TotalCount %d with an empty MediaInfoSet", first.total))
		}
		from = first.items[0].created.Truncate(time.Second) // the oldest match: sorted ascending
		if !from.Before(to) {
			from = to.Add(-time.Second)
		}
	}
	if to.Sub(from) <= time.Second {
		s.dense = append(s.dense, from)
		return s.drain(ctx, from, to, first, limit)
	}
	mid := from.Add(to.Sub(from) / 2).Truncate(time.Second) // from < mid < to: both are whole seconds >= 2s apart
	if err := s.window(ctx, from, mid, true); err != nil {
		return err
	}
	return s.window(ctx, mid, to, true)
}

// drain pages the rest of a window whose first page is first (asked with limit), then hands its
// media to fn. Paging stops at an incomplete page, at TotalCount, or at SearchResultLimit.
func (s *searcher) drain(ctx context.Context, from, to time.Time, first mediaPage, limit int) error {
	seen := make(map[string]struct{}, len(first.items))
	found := make([]foundMedia, 0, first.total)
	keep := func(p mediaPage) {
		for _, m := range p.items {
			if m.created.Before(from) || !m.created.Before(to) || !m.created.Before(s.cutoff) {
				continue // outside this window: another window or no window owns it
			}
			if _, dup := seen[m.fileID]; dup {
				continue // equal CreateTimes have no defined order; a page may repeat one
			}
			seen[m.fileID] = struct{}{}
			found = append(found, m)
		}
	}
	keep(first)
	offset, total, got := limit, first.total, len(first.items)
	for got == limit && offset < total && offset < SearchResultLimit {
		p, n, err := s.query(ctx, from, to, offset, min(s.limit, SearchResultLimit-offset))
		if err != nil {
			return err
		}
		keep(p)
		offset, total, got, limit = offset+n, p.total, len(p.items), n
	}
	for _, m := range found {
		if err := ctx.Err(); err != nil {
			return providers.TransportError(providers.VOD, err)
		}
		t := providers.Target{Provider: providers.VOD, FileID: m.fileID, SubAppID: s.filter.SubAppID}
		if err := s.fn(t, m.created); err != nil {
			return err
		}
	}
	return nil
}

// query fetches one page, halving the limit (for this and later pages) while the answer exceeds the
// body cap. It returns the limit the page was fetched with.
func (s *searcher) query(ctx context.Context, from, to time.Time, offset, limit int) (mediaPage, int, error) {
	for {
		if err := ctx.Err(); err != nil {
			return mediaPage{}, limit, providers.TransportError(providers.VOD, err)
		}
		p, err := s.fetch(ctx, from, to, offset, limit)
		if err != nil && errors.Is(err, providers.ErrBodyTooLarge) && limit > 1 {
			limit /= 2
			s.limit = limit
			continue
		}
		return p, limit, err
	}
}

// fetch sends one SearchMedia request.
func (s *searcher) fetch(ctx context.Context, from, to time.Time, offset, limit int) (mediaPage, error) {
	created := map[string]any{"Before": to.UTC().Format(isoSecond)}
	if !from.IsZero() {
		created["After"] = from.UTC().Format(isoSecond)
	}
	params := map[string]any{
		"CreateTime": created,
		"Sort":       map[string]any{"Field": "CreateTime", "Order": "Asc"},
		"Offset":     offset,
		"Limit":      limit,
		"Filters":    []string{"basicInfo"},
	}
	if s.filter.SubAppID != 0 {
		params["SubAppId"] = s.filter.SubAppID
	}
	if len(s.filter.ClassIDs) > 0 {
		params["ClassIds"] = s.filter.ClassIDs
	}
	if len(s.filter.Categories) > 0 {
		params["Categories"] = s.filter.Categories
	}
	if len(s.filter.SourceTypes) > 0 {
		params["SourceTypes"] = s.filter.SourceTypes
	}
	if len(s.filter.StorageRegions) > 0 {
		params["StorageRegions"] = s.filter.StorageRegions
	}

	body, err := s.c.send(ctx, actionSearch, params)
	if err != nil {
		if pe, ok := providers.AsError(err); ok && pe.Class == providers.Gone {
			pe.Class = providers.Fatal // "already gone" means nothing for a search
		}
		return mediaPage{}, err
	}
	var out struct {
		Response struct {
			TotalCount   *int
			MediaInfoSet []struct {
				FileId    string
				BasicInfo *struct{ CreateTime string }
			}
			RequestId string
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return mediaPage{}, invalidResponse("the body is not a SearchMedia answer")
	}
	r := out.Response
	if r.TotalCount == nil {
		return mediaPage{}, invalidResponseID("no TotalCount", r.RequestId)
	}
	p := mediaPage{total: *r.TotalCount, items: make([]foundMedia, 0, len(r.MediaInfoSet))}
	for i, mi := range r.MediaInfoSet {
		if mi.FileId == "" || mi.BasicInfo == nil {
			return mediaPage{}, invalidResponseID(fmt.Sprintf("MediaInfoSet[%d] has no FileId or BasicInfo", i), r.RequestId)
		}
		t, err := time.Parse(time.RFC3339, mi.BasicInfo.CreateTime)
		if err != nil {
			return mediaPage{}, invalidResponseID(fmt.Sprintf("media %s has CreateTime %q, not ISO 8601",
				mi.FileId, providers.Snippet(mi.BasicInfo.CreateTime)), r.RequestId)
		}
		p.items = append(p.items, foundMedia{fileID: mi.FileId, created: t.UTC()})
	}
	return p, nil
}

// invalidResponse is a success answer Search cannot use. It is retried like any unknown answer: a
// media whose creation time cannot be read is never handed to fn.
func invalidResponse(msg string) error { return invalidResponseID(msg, "") }

func invalidResponseID(msg, requestID string) error {
	return &providers.Error{Provider: providers.VOD, Class: providers.Retry, HTTPStatus: 200,
		Code: "InvalidResponse", Message: "SearchMedia: " + msg, RequestID: requestID}
}

// denseError reports the seconds that held too many matches, or nil.
func (s *searcher) denseError() error {
	if len(s.dense) == 0 {
		return nil
	}
	seconds := make([]string, 0, 3)
	for _, t := range s.dense[:min(3, len(s.dense))] {
		seconds = append(seconds, t.UTC().Format(isoSecond))
	}
	more := ""
	if len(s.dense) > 3 {
		more = fmt.Sprintf(" and %d more", len(s.dense)-3)
	}
	return &providers.Error{Provider: providers.VOD, Class: providers.Fatal, Code: "TooManyInOneSecond",
		Message: fmt.Sprintf("only the first %d matches of second(s) %s%s were found; search again after deleting them",
			SearchResultLimit, strings.Join(seconds, ", "), more),
		Err: ErrTooManyInOneSecond}
}

func notPrintable(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
