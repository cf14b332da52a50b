package vodtest

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SearchMedia as the fake answers it. The documented behaviour it reproduces (sources listed in
// providers/vod/search.go: the API reference for SearchMedia, TimeRange, SortBy, MediaInfo and
// MediaBasicInfo, document 266/31813):
//
//   - Offset (default 0) + Limit (default 10) may not exceed 5000: InvalidParameterValue.Offset, the
//     documented code closest to the rule (no InvalidParameterValue.Limit is documented).
//   - TotalCount counts every match but never reports more than 5000.
//   - CreateTime {After, Before}: After inclusive, Before exclusive, as the TimeRange type documents
//     (SetSearchBeforeInclusive switches to SearchMedia's own wording, "both ends included", so
//     clients can be tested against either reading). Creation times count in whole seconds, the
//     precision VOD returns.
//   - Sort {Field: CreateTime, Order: Asc|Desc}, else InvalidParameterValue.Sort. Without Sort the
//     order is undocumented; the fake answers newest first. Equal times are ordered by FileId.
//   - ClassIds (at most 10) match the class and its subclasses (SetClassParent), Categories (Video,
//     Audio, Image), SourceTypes (at most 10), StorageRegions (at most 20, each at most 20
//     characters), FileIds (at most 10, each at most 40 characters): any element of a list, all lists.
//   - Filters lists the MediaInfo parts to return; BasicInfo is returned when Filters is empty or
//     holds basicInfo. The other parts hold nothing in the fake and are never returned.
//   - Other documented parameters (Names, Tags, StreamIds, ...) are answered with UnsupportedOperation
//     naming the parameter, so a test never gets unfiltered results it did not expect; unknown ones
//     with UnknownParameter. Malformed CreateTime bounds are InvalidParameterValue.StartTime / .EndTime,
//     the codes SearchMedia documents for the same bounds given as StartTime / EndTime.

// SearchResultLimit is SearchMedia's paging ceiling: Offset+Limit <= 5000, and TotalCount is capped
// at 5000.
const SearchResultLimit = 5000

// searchLogMax bounds the query log, so a long-running demo fake does not grow without limit.
const searchLogMax = 4096

// SearchQuery is one SearchMedia request the fake answered, for tests that check how a client pages.
type SearchQuery struct {
	SubAppID uint64
	// After and Before are CreateTime's bounds in UTC, zero when not given.
	After, Before time.Time
	// Order is Sort.Order ("" when no Sort was given).
	Order         string
	Offset, Limit int
	// TotalCount is the answer's (capped) TotalCount and Returned the length of its MediaInfoSet.
	TotalCount, Returned int
}

// searchState is the fake's SearchMedia bookkeeping.
type searchState struct {
	calls atomic.Int64

	mu              sync.Mutex
	queries         []SearchQuery
	parents         map[int64]int64
	beforeInclusive bool
}

// SearchCalls counts SearchMedia requests, whatever their answer, counted on arrival.
func (f *Fake) SearchCalls() int { return int(f.search.calls.Load()) }

// SearchQueries returns the SearchMedia requests answered with success, oldest first (at most the
// last few thousand).
func (f *Fake) SearchQueries() []SearchQuery {
	f.search.mu.Lock()
	defer f.search.mu.Unlock()
	return slices.Clone(f.search.queries)
}

// SetClassParent makes class a subclass of parent, so that ClassIds naming parent also matches media
// of class (and of its own subclasses), as SearchMedia documents.
func (f *Fake) SetClassParent(class, parent int64) {
	f.search.mu.Lock()
	defer f.search.mu.Unlock()
	if f.search.parents == nil {
		f.search.parents = map[int64]int64{}
	}
	f.search.parents[class] = parent
}

// SetSearchBeforeInclusive makes CreateTime.Before inclusive, as SearchMedia's parameter text reads,
// instead of exclusive as its TimeRange type documents.
func (f *Fake) SetSearchBeforeInclusive(inclusive bool) {
	f.search.mu.Lock()
	defer f.search.mu.Unlock()
	f.search.beforeInclusive = inclusive
}

// searchRequest is a parsed SearchMedia call.
type searchRequest struct {
	subAppID                                           uint64
	fileIDs, categories, sourceTypes, regions, filters []string
	classIDs                                           []int64
	after, before                                      string // raw CreateTime bounds, "" when absent
	sortGiven                                          bool
	sortField, sortOrder                               string
	offset, limit                                      uint64

	afterT, beforeT time.Time // parsed by validate
}

// searchNotImplemented are SearchMedia's documented parameters the fake does not filter on.
var searchNotImplemented = []string{"Names", "NamePrefixes", "Descriptions", "Tags", "StreamIds",
	"ExpireTime", "StorageClasses", "MediaTypes", "Status", "ReviewResults", "TrtcSdkAppIds",
	"TrtcRoomIds", "Text", "SourceType", "StreamId", "StartTime", "EndTime", "Vids", "Vid",
	"StreamDomains", "StreamPaths"}

// searchFilters are the documented values of Filters.
var searchFilters = []string{"basicInfo", "metaData", "transcodeInfo", "animatedGraphicsInfo",
	"imageSpriteInfo", "snapshotByTimeOffsetInfo", "sampleSnapshotInfo", "keyFrameDescInfo",
	"adaptiveDynamicStreamingInfo", "miniProgramReviewInfo", "subtitleInfo", "reviewInfo"}

func unsupported(name string) *apiError {
	return errorf("UnsupportedOperation",
		"vodtest: the SearchMedia parameter `%s` is documented but this fake does not implement it.", name)
}

// parseSearchMedia reads SearchMedia's parameters from a JSON body (POST) or the query (GET).
func parseSearchMedia(r *http.Request, body []byte) (searchRequest, *apiError) {
	q, e := readParams(r, body, parseSearchQuery, parseSearchJSON)
	if e != nil {
		return q, e
	}
	return q, q.validate()
}

func parseSearchJSON(body []byte) (searchRequest, *apiError) {
	var q searchRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return q, errorf("InvalidParameter", "The request body is not a valid JSON object.")
	}
	into := func(name string, v json.RawMessage, dst any, what string) *apiError {
		if json.Unmarshal(v, dst) != nil {
			return errorf("InvalidParameter", "The parameter `%s` must be %s.", name, what)
		}
		return nil
	}
	// object decodes the object parameter name and each of its members into fields[member]; a member
	// that fields does not name is UnknownParameter.
	object := func(name string, v json.RawMessage, what, memberWhat string, fields map[string]*string) *apiError {
		var members map[string]json.RawMessage
		if e := into(name, v, &members, what); e != nil {
			return e
		}
		for _, m := range sortedKeys(members) {
			dst, ok := fields[m]
			if !ok {
				return errorf("UnknownParameter", "The parameter `%s.%s` is not recognized.", name, m)
			}
			if e := into(name+"."+m, members[m], dst, memberWhat); e != nil {
				return e
			}
		}
		return nil
	}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		var e *apiError
		switch k {
		case "SubAppId":
			e = into(k, v, &q.subAppID, "a non-negative integer")
		case "FileIds":
			e = into(k, v, &q.fileIDs, "an array of strings")
		case "ClassIds":
			e = into(k, v, &q.classIDs, "an array of integers")
		case "Categories":
			e = into(k, v, &q.categories, "an array of strings")
		case "SourceTypes":
			e = into(k, v, &q.sourceTypes, "an array of strings")
		case "StorageRegions":
			e = into(k, v, &q.regions, "an array of strings")
		case "Filters":
			e = into(k, v, &q.filters, "an array of strings")
		case "Offset":
			e = into(k, v, &q.offset, "a non-negative integer")
		case "Limit":
			e = into(k, v, &q.limit, "a non-negative integer")
		case "CreateTime":
			e = object(k, v, "a TimeRange object", "an ISO 8601 string",
				map[string]*string{"After": &q.after, "Before": &q.before})
		case "Sort":
			q.sortGiven = true
			e = object(k, v, "a SortBy object", "a string",
				map[string]*string{"Field": &q.sortField, "Order": &q.sortOrder})
		default:
			if slices.Contains(searchNotImplemented, k) {
				if s := string(v); s != "null" && s != "[]" && s != `""` {
					e = unsupported(k)
				}
			} else {
				e = errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
			}
		}
		if e != nil {
			return q, e
		}
	}
	return q, nil
}

// searchLists are the array parameters the fake implements, as GET spells them: Name.N.
var searchLists = []string{"FileIds", "ClassIds", "Categories", "SourceTypes", "StorageRegions", "Filters"}

func parseSearchQuery(query map[string][]string) (searchRequest, *apiError) {
	var q searchRequest
	lists := map[string]map[int]string{}
	uintParam := func(k, v string, dst *uint64) *apiError {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return errorf("InvalidParameter", "The parameter `%s` must be a non-negative integer.", k)
		}
		*dst = n
		return nil
	}
	for _, k := range sortedKeys(query) {
		v := query[k][0]
		name, idx, indexed := strings.Cut(k, ".")
		var e *apiError
		switch {
		case k == "SubAppId":
			e = uintParam(k, v, &q.subAppID)
		case k == "Offset":
			e = uintParam(k, v, &q.offset)
		case k == "Limit":
			e = uintParam(k, v, &q.limit)
		case k == "CreateTime.After":
			q.after = v
		case k == "CreateTime.Before":
			q.before = v
		case k == "Sort.Field":
			q.sortGiven, q.sortField = true, v
		case k == "Sort.Order":
			q.sortGiven, q.sortOrder = true, v
		case indexed && slices.Contains(searchLists, name):
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 || i >= 100 {
				return q, errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
			}
			if lists[name] == nil {
				lists[name] = map[int]string{}
			}
			lists[name][i] = v
		case slices.Contains(searchNotImplemented, name):
			e = unsupported(name)
		default:
			e = errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
		}
		if e != nil {
			return q, e
		}
	}
	for name, items := range lists {
		vals := make([]string, len(items))
		for i := range vals {
			v, ok := items[i]
			if !ok {
				return q, errorf("MissingParameter", "The request is missing a required parameter `%s.%d`.", name, i)
			}
			vals[i] = v
		}
		switch name {
		case "FileIds":
			q.fileIDs = vals
		case "Categories":
			q.categories = vals
		case "SourceTypes":
			q.sourceTypes = vals
		case "StorageRegions":
			q.regions = vals
		case "Filters":
			q.filters = vals
		case "ClassIds":
			for i, v := range vals {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return q, errorf("InvalidParameter", "The parameter `ClassIds.%d` must be an integer.", i)
				}
				q.classIDs = append(q.classIDs, n)
			}
		}
	}
	return q, nil
}

// validate applies SearchMedia's documented limits and parses the time bounds.
func (q *searchRequest) validate() *apiError {
	tooLong := func(vals []string, n int) bool {
		return slices.ContainsFunc(vals, func(v string) bool { return len(v) > n })
	}
	switch {
	case len(q.fileIDs) > 10 || tooLong(q.fileIDs, 40):
		return errorf("InvalidParameterValue.FileIds", "FileIds takes at most 10 ids of at most 40 characters.")
	case len(q.classIDs) > 10:
		return errorf("InvalidParameterValue.ClassIds", "ClassIds takes at most 10 ids.")
	case len(q.sourceTypes) > 10:
		return errorf("InvalidParameterValue.SourceTypes", "SourceTypes takes at most 10 sources.")
	case len(q.regions) > 20 || tooLong(q.regions, 20):
		return errorf("InvalidParameterValue.StorageRegions", "StorageRegions takes at most 20 regions of at most 20 characters.")
	}
	for _, c := range q.categories {
		if c != "Video" && c != "Audio" && c != "Image" {
			return errorf("InvalidParameterValue.Categories", "The value `%s` of parameter `Categories` is invalid.", c)
		}
	}
	for _, fl := range q.filters {
		if !slices.Contains(searchFilters, fl) {
			return errorf("InvalidParameterValue", "The value `%s` of parameter `Filters` is invalid.", fl)
		}
	}
	if q.sortGiven && (q.sortField != "CreateTime" || (q.sortOrder != "Asc" && q.sortOrder != "Desc")) {
		return errorf("InvalidParameterValue.Sort", "Sort.Field must be CreateTime and Sort.Order Asc or Desc.")
	}
	var err error
	if q.after != "" {
		if q.afterT, err = time.Parse(time.RFC3339, q.after); err != nil {
			return errorf("InvalidParameterValue.StartTime", "CreateTime.After `%s` is not an ISO 8601 time.", q.after)
		}
	}
	if q.before != "" {
		if q.beforeT, err = time.Parse(time.RFC3339, q.before); err != nil {
			return errorf("InvalidParameterValue.EndTime", "CreateTime.Before `%s` is not an ISO 8601 time.", q.before)
		}
	}
	if q.limit == 0 {
		q.limit = 10 // the documented default; an explicit 0 is read the same way
	}
	if q.offset > SearchResultLimit || q.offset+q.limit > SearchResultLimit {
		return errorf("InvalidParameterValue.Offset",
			"Offset + Limit must not exceed %d; narrow the search to reach further results.", SearchResultLimit)
	}
	return nil
}

// hit is one matching media, copied out of the inventory.
type hit struct {
	m       Media
	created time.Time // whole seconds, UTC
}

// serveSearch answers a validated SearchMedia call. The inventory lock is held only to copy the
// matches; sorting and encoding happen outside it.
func (f *Fake) serveSearch(w http.ResponseWriter, q searchRequest) {
	f.search.mu.Lock()
	parents := maps.Clone(f.search.parents)
	inclusive := f.search.beforeInclusive
	f.search.mu.Unlock()

	f.mu.Lock()
	if q.subAppID != 0 && !f.subApps[q.subAppID] {
		f.mu.Unlock()
		writeError(w, http.StatusOK, errorf("InvalidParameterValue.SubAppId",
			"The value of parameter `SubAppId` is invalid: no such sub-application."))
		return
	}
	var hits []hit
	for k, m := range f.media {
		if k.subApp != q.subAppID {
			continue
		}
		created := m.CreateTime.UTC().Truncate(time.Second)
		if q.matches(m, created, parents, inclusive) {
			c := *m
			c.Parts = nil // not needed, and not to be shared outside the lock
			hits = append(hits, hit{m: c, created: created})
		}
	}
	f.mu.Unlock()

	slices.SortFunc(hits, func(a, b hit) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.m.FileID, b.m.FileID)
	})
	if !q.sortGiven || q.sortOrder == "Desc" {
		slices.Reverse(hits)
	}
	total := len(hits)
	lo, hi := min(int(q.offset), total), min(int(q.offset+q.limit), total)
	withBasic := len(q.filters) == 0 || slices.Contains(q.filters, "basicInfo")
	set := make([]mediaInfo, 0, hi-lo)
	for _, h := range hits[lo:hi] {
		mi := mediaInfo{FileID: h.m.FileID}
		if withBasic {
			mi.BasicInfo = basicInfoOf(h)
		}
		set = append(set, mi)
	}
	reported := min(total, SearchResultLimit)
	f.logSearch(SearchQuery{SubAppID: q.subAppID, After: q.afterT.UTC(), Before: q.beforeT.UTC(), Order: q.sortOrder,
		Offset: int(q.offset), Limit: int(q.limit), TotalCount: reported, Returned: len(set)})
	writeJSON(w, http.StatusOK, map[string]any{"Response": searchAnswer{
		TotalCount: reported, MediaInfoSet: set, RequestID: requestID()}})
}

func (f *Fake) logSearch(q SearchQuery) {
	f.search.mu.Lock()
	defer f.search.mu.Unlock()
	if len(f.search.queries) >= searchLogMax {
		f.search.queries = slices.Delete(f.search.queries, 0, searchLogMax/2)
	}
	f.search.queries = append(f.search.queries, q)
}

// matches applies the filters to one media.
func (q *searchRequest) matches(m *Media, created time.Time, parents map[int64]int64, beforeInclusive bool) bool {
	if q.after != "" && created.Before(q.afterT) {
		return false
	}
	if q.before != "" && (created.After(q.beforeT) || (!beforeInclusive && created.Equal(q.beforeT))) {
		return false
	}
	if len(q.fileIDs) > 0 && !slices.Contains(q.fileIDs, m.FileID) {
		return false
	}
	if len(q.classIDs) > 0 && !inClasses(m.ClassID, q.classIDs, parents) {
		return false
	}
	if len(q.categories) > 0 && !slices.Contains(q.categories, m.Category) {
		return false
	}
	if len(q.sourceTypes) > 0 && !slices.Contains(q.sourceTypes, m.SourceType) {
		return false
	}
	if len(q.regions) > 0 && !slices.Contains(q.regions, m.StorageRegion) {
		return false
	}
	return true
}

// inClasses reports whether class is one of ids or below one of them in the class tree.
func inClasses(class int64, ids []int64, parents map[int64]int64) bool {
	for range 64 { // VOD has at most 4 levels; the bound only guards against a cycle in test setup
		if slices.Contains(ids, class) {
			return true
		}
		p, ok := parents[class]
		if !ok {
			return false
		}
		class = p
	}
	return false
}

// searchAnswer is SearchMedia's documented response.
type searchAnswer struct {
	TotalCount   int         `json:"TotalCount"`
	MediaInfoSet []mediaInfo `json:"MediaInfoSet"`
	RequestID    string      `json:"RequestId"`
}

// mediaInfo is the MediaInfo shape, with the one part the fake fills.
type mediaInfo struct {
	BasicInfo *basicInfo `json:"BasicInfo,omitempty"`
	FileID    string     `json:"FileId"`
}

// basicInfo is MediaBasicInfo as documented, with the values the fake knows.
type basicInfo struct {
	Name          string     `json:"Name"`
	Description   string     `json:"Description"`
	CreateTime    string     `json:"CreateTime"`
	UpdateTime    string     `json:"UpdateTime"`
	ExpireTime    string     `json:"ExpireTime"`
	ClassID       int64      `json:"ClassId"`
	ClassName     string     `json:"ClassName"`
	ClassPath     string     `json:"ClassPath"`
	CoverURL      string     `json:"CoverUrl"`
	Type          string     `json:"Type"`
	MediaURL      string     `json:"MediaUrl"`
	SourceInfo    sourceInfo `json:"SourceInfo"`
	StorageRegion string     `json:"StorageRegion"`
	TagSet        []string   `json:"TagSet"`
	Vid           string     `json:"Vid"`
	Category      string     `json:"Category"`
	Status        string     `json:"Status"`
	StorageClass  string     `json:"StorageClass"`
}

// sourceInfo is MediaSourceData's SourceType and SourceContext.
type sourceInfo struct {
	SourceType    string `json:"SourceType"`
	SourceContext string `json:"SourceContext"`
}

func basicInfoOf(h hit) *basicInfo {
	created := h.created.Format("2006-01-02T15:04:05Z")
	return &basicInfo{
		CreateTime:    created,
		UpdateTime:    created,
		ExpireTime:    "9999-12-31T23:59:59Z", // never expires
		ClassID:       h.m.ClassID,
		MediaURL:      "http://1500000000.vod2.myqcloud.com/vodtest/" + h.m.FileID + "/f0.mp4",
		SourceInfo:    sourceInfo{SourceType: h.m.SourceType},
		StorageRegion: h.m.StorageRegion,
		TagSet:        []string{},
		Category:      h.m.Category,
		Status:        "Normal",
		StorageClass:  "STANDARD",
	}
}
