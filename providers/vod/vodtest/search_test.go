package vodtest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"

	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

// searchAnswer is a decoded SearchMedia success.
type searchAnswer struct {
	TotalCount   *int
	MediaInfoSet []struct {
		FileId    string
		BasicInfo *struct {
			CreateTime, UpdateTime, ExpireTime string
			ClassId                            int64
			Category, StorageRegion            string
			Status, StorageClass               string
			SourceInfo                         struct{ SourceType string }
		}
	}
	RequestId string
}

func (a searchAnswer) ids() []string {
	ids := make([]string, len(a.MediaInfoSet))
	for i, m := range a.MediaInfoSet {
		ids[i] = m.FileId
	}
	return ids
}

// sdkSearch sends SearchMedia with the official SDK and returns the answer, or the error code.
func sdkSearch(t *testing.T, c *common.Client, params map[string]any) (searchAnswer, string) {
	t.Helper()
	req := tchttp.NewCommonRequest("vod", "2018-07-17", "SearchMedia")
	require.NoError(t, req.SetActionParameters(params))
	resp := tchttp.NewCommonResponse()
	if err := c.Send(req, resp); err != nil {
		return searchAnswer{}, sdkCode(t, err)
	}
	var out struct{ Response searchAnswer }
	require.NoError(t, json.Unmarshal(resp.GetBody(), &out))
	require.NotEmpty(t, out.Response.RequestId)
	require.NotNil(t, out.Response.TotalCount, "TotalCount is always there")
	return out.Response, ""
}

var base = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func TestFakeSearchPagesWithinTheDocumentedLimit(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	const n = 6000
	for i := range n {
		f.AddMedia(vodtest.Media{FileID: fmt.Sprintf("m%05d", i), SubAppID: subApp, CreateTime: base.Add(time.Duration(i) * time.Second)})
	}
	c := sdkClient(srv, "POST", cred.SecretKey)
	asc := map[string]any{"Field": "CreateTime", "Order": "Asc"}

	a, code := sdkSearch(t, c, map[string]any{"SubAppId": subApp})
	require.Empty(t, code)
	assert.Equal(t, vodtest.SearchResultLimit, *a.TotalCount, "TotalCount stops at 5000")
	assert.Len(t, a.MediaInfoSet, 10, "Limit defaults to 10")
	assert.Equal(t, "m05999", a.MediaInfoSet[0].FileId, "newest first without a Sort")

	a, code = sdkSearch(t, c, map[string]any{"SubAppId": subApp, "Sort": asc, "Offset": 4900, "Limit": 100})
	require.Empty(t, code)
	assert.Len(t, a.MediaInfoSet, 100)
	assert.Equal(t, "m04900", a.MediaInfoSet[0].FileId)
	assert.Equal(t, "m04999", a.MediaInfoSet[99].FileId)

	for _, p := range []map[string]any{{"Offset": 4901, "Limit": 100}, {"Offset": 5000, "Limit": 1}, {"Limit": 5001}, {"Offset": 4995}} {
		p["SubAppId"] = subApp
		_, code = sdkSearch(t, c, p)
		assert.Equal(t, "InvalidParameterValue.Offset", code, "%v", p)
	}

	// CreateTime: After inclusive, Before exclusive; an offset other than Z is understood.
	window := map[string]any{"After": iso(base.Add(10 * time.Second)), "Before": base.Add(20 * time.Second).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)}
	a, code = sdkSearch(t, c, map[string]any{"SubAppId": subApp, "Sort": asc, "CreateTime": window, "Limit": 50})
	require.Empty(t, code)
	assert.Equal(t, 10, *a.TotalCount)
	assert.Equal(t, "m00010", a.MediaInfoSet[0].FileId)
	assert.Equal(t, "m00019", a.MediaInfoSet[9].FileId)

	f.SetSearchBeforeInclusive(true)
	a, _ = sdkSearch(t, c, map[string]any{"SubAppId": subApp, "Sort": asc, "CreateTime": window, "Limit": 50})
	assert.Equal(t, 11, *a.TotalCount, "Before included, as SearchMedia's own text reads")
	f.SetSearchBeforeInclusive(false)

	a, _ = sdkSearch(t, c, map[string]any{"SubAppId": subApp, "Sort": map[string]any{"Field": "CreateTime", "Order": "Desc"},
		"CreateTime": window, "Offset": 8, "Limit": 5})
	assert.Equal(t, []string{"m00011", "m00010"}, a.ids(), "a page past the end is short")

	queries := f.SearchQueries()
	require.NotEmpty(t, queries)
	last := queries[len(queries)-1]
	assert.Equal(t, vodtest.SearchQuery{SubAppID: subApp, After: base.Add(10 * time.Second), Before: base.Add(20 * time.Second),
		Order: "Desc", Offset: 8, Limit: 5, TotalCount: 10, Returned: 2}, last)
}

func TestFakeSearchFilters(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	f.SetClassParent(7, 3)
	f.SetClassParent(8, 7)
	add := func(id string, m vodtest.Media) {
		m.FileID, m.CreateTime = id, base
		if m.SubAppID == 0 {
			m.SubAppID = subApp
		}
		if m.Category == "" {
			m.Category = "Video"
		}
		f.AddMedia(m)
	}
	add("c3", vodtest.Media{ClassID: 3})
	add("c7", vodtest.Media{ClassID: 7, SourceType: "Upload", StorageRegion: "ap-guangzhou"})
	add("c8", vodtest.Media{ClassID: 8, Category: "Audio", SourceType: "Record"})
	add("c9", vodtest.Media{ClassID: 9, Category: "Image", StorageRegion: "ap-singapore"})
	add("other", vodtest.Media{SubAppID: subApp + 1, ClassID: 3})
	c := sdkClient(srv, "POST", cred.SecretKey)

	cases := []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"a class and its subclasses", map[string]any{"ClassIds": []int64{7}}, []string{"c7", "c8"}},
		{"classes are OR'ed", map[string]any{"ClassIds": []int64{3, 9}}, []string{"c3", "c7", "c8", "c9"}},
		{"categories", map[string]any{"Categories": []string{"Audio", "Image"}}, []string{"c8", "c9"}},
		{"source types", map[string]any{"SourceTypes": []string{"Upload", "Record"}}, []string{"c7", "c8"}},
		{"storage regions", map[string]any{"StorageRegions": []string{"ap-singapore"}}, []string{"c9"}},
		{"file ids", map[string]any{"FileIds": []string{"c3", "c9", "nope"}}, []string{"c3", "c9"}},
		{"parameters are AND'ed", map[string]any{"ClassIds": []int64{3}, "Categories": []string{"Video"}}, []string{"c3", "c7"}},
		{"empty lists do not filter", map[string]any{"Tags": []string{}, "ClassIds": []int64{}}, []string{"c3", "c7", "c8", "c9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.params["SubAppId"] = subApp
			a, code := sdkSearch(t, c, tc.params)
			require.Empty(t, code)
			assert.ElementsMatch(t, tc.want, a.ids())
			assert.Equal(t, len(tc.want), *a.TotalCount)
		})
	}

	t.Run("basicInfo", func(t *testing.T) {
		a, code := sdkSearch(t, c, map[string]any{"SubAppId": subApp, "FileIds": []string{"c7"}, "Filters": []string{"basicInfo"}})
		require.Empty(t, code)
		require.Len(t, a.MediaInfoSet, 1)
		bi := a.MediaInfoSet[0].BasicInfo
		require.NotNil(t, bi)
		assert.Equal(t, "2025-03-01T08:00:00Z", bi.CreateTime)
		assert.Equal(t, int64(7), bi.ClassId)
		assert.Equal(t, "Video", bi.Category)
		assert.Equal(t, "Upload", bi.SourceInfo.SourceType)
		assert.Equal(t, "ap-guangzhou", bi.StorageRegion)
		assert.Equal(t, "9999-12-31T23:59:59Z", bi.ExpireTime)
		assert.Equal(t, "Normal", bi.Status)

		a, _ = sdkSearch(t, c, map[string]any{"SubAppId": subApp, "FileIds": []string{"c7"}, "Filters": []string{"metaData"}})
		require.Len(t, a.MediaInfoSet, 1)
		assert.Nil(t, a.MediaInfoSet[0].BasicInfo, "only the parts Filters names")
	})

	t.Run("sub-applications", func(t *testing.T) {
		a, _ := sdkSearch(t, c, map[string]any{"SubAppId": subApp + 1})
		assert.Equal(t, []string{"other"}, a.ids())
		a, _ = sdkSearch(t, c, map[string]any{})
		assert.Empty(t, a.ids(), "the primary application holds nothing")
		_, code := sdkSearch(t, c, map[string]any{"SubAppId": 42})
		assert.Equal(t, "InvalidParameterValue.SubAppId", code)
	})
}

func TestFakeSearchRejectsWhatTheServiceRejects(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	c := sdkClient(srv, "POST", cred.SecretKey)
	eleven := make([]int64, 11)
	cases := []struct {
		params map[string]any
		code   string
	}{
		{map[string]any{"Categories": []string{"Movie"}}, "InvalidParameterValue.Categories"},
		{map[string]any{"ClassIds": eleven}, "InvalidParameterValue.ClassIds"},
		{map[string]any{"SourceTypes": make([]string, 11)}, "InvalidParameterValue.SourceTypes"},
		{map[string]any{"StorageRegions": []string{strings.Repeat("a", 21)}}, "InvalidParameterValue.StorageRegions"},
		{map[string]any{"FileIds": make([]string, 11)}, "InvalidParameterValue.FileIds"},
		{map[string]any{"Sort": map[string]any{"Field": "Name", "Order": "Asc"}}, "InvalidParameterValue.Sort"},
		{map[string]any{"Sort": map[string]any{"Field": "CreateTime", "Order": "Up"}}, "InvalidParameterValue.Sort"},
		{map[string]any{"CreateTime": map[string]any{"After": "yesterday"}}, "InvalidParameterValue.StartTime"},
		{map[string]any{"CreateTime": map[string]any{"Before": "2025-13-01T00:00:00Z"}}, "InvalidParameterValue.EndTime"},
		{map[string]any{"CreateTime": map[string]any{"Since": "2025-01-01T00:00:00Z"}}, "UnknownParameter"},
		{map[string]any{"Filters": []string{"everything"}}, "InvalidParameterValue"},
		{map[string]any{"Offset": -1}, "InvalidParameter"},
		{map[string]any{"Tags": []string{"a"}}, "UnsupportedOperation"},
		{map[string]any{"Bogus": 1}, "UnknownParameter"},
	}
	for _, tc := range cases {
		_, code := sdkSearch(t, c, tc.params)
		assert.Equal(t, tc.code, code, "%v", tc.params)
	}
	assert.Equal(t, len(cases), f.SearchCalls(), "refused calls count too")
	assert.Empty(t, f.SearchQueries(), "only answered queries are logged")

	// A wrong key is refused like any other action, and still counted.
	_, code := sdkSearch(t, sdkClient(srv, "POST", "wrongSecretKey000000000000000000"), map[string]any{})
	assert.Equal(t, "AuthFailure.SignatureFailure", code)
	assert.Equal(t, len(cases)+1, f.SearchCalls())
}

func TestFakeSearchCountsOnArrivalAndHonoursFaults(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	c := sdkClient(srv, "POST", cred.SecretKey)

	f.Faults().FailNext(1, faults.Fault{Code: "RequestLimitExceeded"})
	_, code := sdkSearch(t, c, map[string]any{})
	assert.Equal(t, "RequestLimitExceeded", code)

	requireCountedWhilePending(t, f, srv, vodtest.ActionSearchMedia, `{}`, func() bool { return f.SearchCalls() == 2 })
}

// getSearchMedia is a typed request like the SDK's generated SearchMediaRequest, which the SDK
// flattens into the query of a GET (ClassIds.0=..&CreateTime.After=..).
type getSearchMedia struct {
	*tchttp.BaseRequest
	SubAppId   *uint64       `json:"SubAppId,omitnil" name:"SubAppId"`
	ClassIds   []*int64      `json:"ClassIds,omitnil" name:"ClassIds"`
	Categories []*string     `json:"Categories,omitnil" name:"Categories"`
	CreateTime *getTimeRange `json:"CreateTime,omitnil" name:"CreateTime"`
	Sort       *getSortBy    `json:"Sort,omitnil" name:"Sort"`
	Offset     *uint64       `json:"Offset,omitnil" name:"Offset"`
	Limit      *uint64       `json:"Limit,omitnil" name:"Limit"`
	Filters    []*string     `json:"Filters,omitnil" name:"Filters"`
}

type getTimeRange struct {
	After  *string `json:"After,omitnil" name:"After"`
	Before *string `json:"Before,omitnil" name:"Before"`
}

type getSortBy struct {
	Field *string `json:"Field,omitnil" name:"Field"`
	Order *string `json:"Order,omitnil" name:"Order"`
}

type getSearchResponse struct {
	*tchttp.BaseResponse
	Response *searchAnswer `json:"Response"`
}

func TestFakeSearchAcceptsOfficialSDKGet(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	f.SetClassParent(7, 3)
	for i := range 5 {
		f.AddMedia(vodtest.Media{FileID: fmt.Sprintf("v%d", i), SubAppID: subApp, ClassID: 7, Category: "Video",
			CreateTime: base.Add(time.Duration(i) * time.Hour)})
	}
	f.AddMedia(vodtest.Media{FileID: "a", SubAppID: subApp, ClassID: 7, Category: "Audio", CreateTime: base})
	c := sdkClient(srv, "GET", cred.SecretKey)

	ptr := func(s string) *string { return &s }
	app, class, offset, limit := uint64(subApp), int64(3), uint64(1), uint64(2)
	req := &getSearchMedia{BaseRequest: &tchttp.BaseRequest{}, SubAppId: &app, ClassIds: []*int64{&class},
		Categories: []*string{ptr("Video")},
		CreateTime: &getTimeRange{After: ptr(iso(base)), Before: ptr(iso(base.Add(4 * time.Hour)))},
		Sort:       &getSortBy{Field: ptr("CreateTime"), Order: ptr("Asc")},
		Offset:     &offset, Limit: &limit, Filters: []*string{ptr("basicInfo")}}
	req.Init().WithApiInfo("vod", "2018-07-17", "SearchMedia")
	resp := &getSearchResponse{BaseResponse: &tchttp.BaseResponse{}}
	require.NoError(t, c.Send(req, resp))
	require.NotNil(t, resp.Response)
	assert.Equal(t, 4, *resp.Response.TotalCount)
	assert.Equal(t, []string{"v1", "v2"}, resp.Response.ids())
	assert.Equal(t, iso(base.Add(time.Hour)), resp.Response.MediaInfoSet[0].BasicInfo.CreateTime)
}
