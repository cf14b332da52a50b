package smhtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// batchAnswer is a decoded batch, task or restore response.
type batchAnswer struct {
	Status int
	Raw    string
	Code   string `json:"code"`
	TaskID int64  `json:"taskId"`
	Result []struct {
		Status         int      `json:"status"`
		Code           string   `json:"code"`
		Message        string   `json:"message"`
		RecycledItemID int64    `json:"recycledItemId"`
		Path           []string `json:"path"`
	} `json:"result"`
	Path []string `json:"path"`
}

func (fx *fixture) post(t *testing.T, method, pathAndQuery, body string) batchAnswer {
	t.Helper()
	req, err := http.NewRequest(method, fx.srv.URL+pathAndQuery, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := fx.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := batchAnswer{Status: resp.StatusCode, Raw: string(b)}
	if len(b) > 0 && b[0] == '{' {
		require.NoError(t, json.Unmarshal(b, &a))
	}
	assert.NotEmpty(t, resp.Header.Get("X-Request-Id"), "every SMH answer carries X-Request-Id")
	return a
}

func batchURL(lib, space, tok string) string {
	return "/api/v1/batch/" + lib + "/" + space + "?delete&access_token=" + url.QueryEscape(tok)
}

func addFile(fx *fixture, lib, space, path string) providers.Target {
	tg := providers.Target{Provider: providers.SMH, LibraryID: lib, SpaceID: space, Path: path}
	fx.fake.Add(tg)
	return tg
}

func TestBatchDeleteAPI(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("recycle", "", "delete_file,delete_file_permanent"))
	a, b := addFile(fx, "recycle", "-", "d/a.mp4"), addFile(fx, "recycle", "-", "b.mp4")

	all := fx.post(t, http.MethodPost, batchURL("recycle", "-", tok), `[{"path":"d/a.mp4"},{"path":"b.mp4","permanent":true}]`)
	require.Equal(t, http.StatusOK, all.Status, all.Raw)
	require.Len(t, all.Result, 2)
	assert.Equal(t, 200, all.Result[0].Status)
	assert.Equal(t, []string{"d", "a.mp4"}, all.Result[0].Path, "paths are lists of segments")
	assert.Positive(t, all.Result[0].RecycledItemID)
	assert.Equal(t, 204, all.Result[1].Status)
	assert.Zero(t, all.Result[1].RecycledItemID)
	assert.False(t, fx.fake.Exists(a) || fx.fake.Exists(b))
	require.Len(t, fx.fake.Recycled("recycle"), 1)

	some := fx.post(t, http.MethodPost, batchURL("recycle", "-", tok), `[{"path":"d/a.mp4"}]`)
	require.Equal(t, http.StatusMultiStatus, some.Status, some.Raw)
	assert.Equal(t, 404, some.Result[0].Status)
	assert.Equal(t, "FileNotFound", some.Result[0].Code)
	assert.Equal(t, "File not found.", some.Result[0].Message)

	many := make([]string, smhtest.MaxBatchItems+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"path":"f%d"}`, i)
	}
	for name, tc := range map[string]struct {
		method, url, body string
		status            int
		code              string
	}{
		"too many items":     {http.MethodPost, batchURL("recycle", "-", tok), "[" + strings.Join(many, ",") + "]", 400, "TooManyItems"},
		"no items":           {http.MethodPost, batchURL("recycle", "-", tok), `[]`, 400, "NoItemsProvided"},
		"not a list":         {http.MethodPost, batchURL("recycle", "-", tok), `{"path":"a"}`, 400, "InvalidParameter"},
		"no operation":       {http.MethodPost, "/api/v1/batch/recycle/-?access_token=" + tok, `[{"path":"a"}]`, 400, "InvalidParameter"},
		"wrong method":       {http.MethodPut, batchURL("recycle", "-", tok), `[{"path":"a"}]`, 405, "MethodNotAllowed"},
		"no token":           {http.MethodPost, "/api/v1/batch/recycle/-?delete", `[{"path":"a"}]`, 400, "EmptyAccessToken"},
		"other library":      {http.MethodPost, batchURL("plain", "-", tok), `[{"path":"a"}]`, 403, "InvalidAccessToken"},
		"unknown library":    {http.MethodPost, batchURL("nope", "-", tok), `[{"path":"a"}]`, 404, "LibraryNotFound"},
		"space of no tenant": {http.MethodPost, batchURL("recycle", "sa", tok), `[{"path":"a"}]`, 404, "SpaceNotFound"},
	} {
		t.Run(name, func(t *testing.T) {
			got := fx.post(t, tc.method, tc.url, tc.body)
			assert.Equal(t, tc.status, got.Status, got.Raw)
			assert.Equal(t, tc.code, got.Code)
		})
	}
	assert.Equal(t, 2+9, fx.fake.BatchCalls())
}

func TestBatchDeleteGrantsPerItem(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("recycle", "", "delete_file"))
	a, b := addFile(fx, "recycle", "-", "a"), addFile(fx, "recycle", "-", "b")
	got := fx.post(t, http.MethodPost, batchURL("recycle", "-", tok), `[{"path":"a"},{"path":"b","permanent":true},{"path":"bad//p"}]`)
	require.Equal(t, http.StatusMultiStatus, got.Status, got.Raw)
	assert.Equal(t, 200, got.Result[0].Status)
	assert.Equal(t, 403, got.Result[1].Status, "a permanent delete needs delete_file_permanent")
	assert.Equal(t, "NoPermission", got.Result[1].Code)
	assert.Equal(t, "InvalidPath", got.Result[2].Code)
	assert.False(t, fx.fake.Exists(a))
	assert.True(t, fx.fake.Exists(b))

	readOnly := fx.token(t, tokenQuery("recycle", "", ""))
	got = fx.post(t, http.MethodPost, batchURL("recycle", "-", readOnly), `[{"path":"b"}]`)
	assert.Equal(t, "NoPermission", got.Result[0].Code)
	assert.True(t, fx.fake.Exists(b))
}

func TestBatchItemFaults(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("plain", "", "delete_file"))
	a, b, c := addFile(fx, "plain", "-", "a"), addFile(fx, "plain", "-", "b"), addFile(fx, "plain", "-", "c")
	fx.fake.FailItem(b, 1, faults.Fault{Status: 429, Code: "RateLimitExceeded"})
	got := fx.post(t, http.MethodPost, batchURL("plain", "-", tok), `[{"path":"a"},{"path":"b"},{"path":"c"}]`)
	require.Equal(t, http.StatusMultiStatus, got.Status, got.Raw)
	assert.Equal(t, []int{204, 429, 204}, []int{got.Result[0].Status, got.Result[1].Status, got.Result[2].Status})
	assert.Equal(t, "Rate limit exceeded.", got.Result[1].Message)
	assert.True(t, fx.fake.Exists(b))
	assert.False(t, fx.fake.Exists(a) || fx.fake.Exists(c))

	// The item injector: an outage fails every item of a batch the request injector let through.
	fx.fake.ItemFaults().SetDown(true)
	got = fx.post(t, http.MethodPost, batchURL("plain", "-", tok), `[{"path":"b"}]`)
	assert.Equal(t, 503, got.Result[0].Status)
	assert.Equal(t, "ServerOverloaded", got.Result[0].Code)
	fx.fake.ItemFaults().SetDown(false)

	// The request injector fails the whole batch.
	fx.fake.Faults().FailNext(1, faults.Fault{Status: 500, Code: "InternalServerError"})
	got = fx.post(t, http.MethodPost, batchURL("plain", "-", tok), `[{"path":"b"}]`)
	assert.Equal(t, 500, got.Status)
	assert.True(t, fx.fake.Exists(b))
	assert.Equal(t, 3, fx.fake.Calls(b), "each batch naming a file counts as a call for it")
}

func TestTaskAPI(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("multi", "sa", "delete_file"))
	addFile(fx, "multi", "sa", "a")
	fx.fake.SetAsync(1, 1)
	acc := fx.post(t, http.MethodPost, batchURL("multi", "sa", tok), `[{"path":"a"}]`)
	require.Equal(t, http.StatusAccepted, acc.Status, acc.Raw)
	require.Positive(t, acc.TaskID)

	query := func(space string) (int, []map[string]any) {
		got := fx.post(t, http.MethodGet, fmt.Sprintf("/api/v1/task/multi/%s/%d,99?access_token=%s", space, acc.TaskID, tok), "")
		var list []map[string]any
		if got.Status == 200 {
			require.NoError(t, json.Unmarshal([]byte(got.Raw), &list), got.Raw)
		}
		return got.Status, list
	}
	status, list := query("sa")
	require.Equal(t, 200, status)
	require.Len(t, list, 1, "unknown task ids are left out")
	assert.EqualValues(t, 202, list[0]["status"], "running")
	_, list = query("sa")
	assert.EqualValues(t, 200, list[0]["status"], "done")
	result := list[0]["result"].(map[string]any)["result"].([]any)
	assert.EqualValues(t, 200, result[0].(map[string]any)["status"])

	other := fx.token(t, tokenQuery("multi", "sb", "delete_file"))
	got := fx.post(t, http.MethodGet, fmt.Sprintf("/api/v1/task/multi/sb/%d?access_token=%s", acc.TaskID, other), "")
	assert.Equal(t, 404, got.Status, "a task is only found in its own space")
	assert.Equal(t, "TaskNotFound", got.Code)
	assert.Equal(t, 3, fx.fake.TaskCalls())
}

func TestRestoreAPI(t *testing.T) {
	fx := newFixture(t)
	del := fx.token(t, tokenQuery("recycle", "", "delete_file"))
	res := fx.token(t, tokenQuery("recycle", "", "restore_recycled"))
	a := addFile(fx, "recycle", "-", "v/a.mp4")
	addFile(fx, "recycle", "-", "b.mp4")
	got := fx.post(t, http.MethodPost, batchURL("recycle", "-", del), `[{"path":"v/a.mp4"},{"path":"b.mp4"}]`)
	require.Equal(t, 200, got.Status, got.Raw)
	idA, idB := got.Result[0].RecycledItemID, got.Result[1].RecycledItemID

	batch := func(tok, body string) batchAnswer {
		return fx.post(t, http.MethodPost, "/api/v1/recycled/recycle/-?restore&access_token="+tok, body)
	}
	assert.Equal(t, "NoPermission", batch(del, fmt.Sprintf("[%d]", idA)).Code, "restoring needs restore_recycled")
	assert.Equal(t, "NoItemsProvided", batch(res, `[]`).Code)
	assert.Equal(t, "InvalidParameter", batch(res, `["x"]`).Code)

	fx.fake.Add(a) // the path is taken again
	got = batch(res, fmt.Sprintf("[%d,%d,12345]", idA, idB))
	require.Equal(t, http.StatusMultiStatus, got.Status, got.Raw)
	assert.Equal(t, 409, got.Result[0].Status, "batch restore never overwrites")
	assert.Equal(t, "SameNameDirectoryOrFileExists", got.Result[0].Code)
	assert.Equal(t, 200, got.Result[1].Status)
	assert.Equal(t, []string{"b.mp4"}, got.Result[1].Path)
	assert.Equal(t, 404, got.Result[2].Status)
	assert.Equal(t, "RecycledItemNotFound", got.Result[2].Code)
	assert.Equal(t, int64(12345), got.Result[2].RecycledItemID)

	single := func(strategy string) batchAnswer {
		q := fmt.Sprintf("/api/v1/recycled/recycle/-/%d?restore&access_token=%s", idA, res)
		if strategy != "" {
			q += "&conflict_resolution_strategy=" + strategy
		}
		return fx.post(t, http.MethodPost, q, "")
	}
	assert.Equal(t, 409, single("ask").Status)
	assert.Equal(t, "InvalidParameter", single("merge").Code)
	got = single("") // SMH's default: rename
	require.Equal(t, 200, got.Status, got.Raw)
	assert.Equal(t, []string{"v", "a (1).mp4"}, got.Path)
	assert.Equal(t, 404, single("overwrite").Status, "restored items leave the bin")
	assert.Empty(t, fx.fake.Recycled("recycle"))
	assert.Len(t, fx.fake.Files("recycle", "-"), 3)
	assert.Equal(t, 8, fx.fake.RestoreCalls())
}
