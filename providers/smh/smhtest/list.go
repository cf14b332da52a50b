package smhtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers/faults"
)

// The listing side of the fake: GET /api/v1/directory/{LibraryId}/{SpaceId}/{DirPath}, as the business
// API documents it (www.tencentcloud.com/document/product/1283/75453; the field list is the Java SDK's
// DirectoryContentsResponse). Directories are implied by the inventory's file paths and, as in SMH,
// stay once created: deleting a directory's last file leaves it empty, not gone.
//
// What the fake answers:
//   - marker+limit paging (limit default and maximum 1000) or page+page_size paging (page_size default
//     20), never both (400 InvalidParameter). A request with neither is marker paging's first page.
//   - nextMarker, present while entries remain, is base64 of {"type":"dir"|"file","name":...}: the type
//     and name of the page's last entry, the shape SMH's own markers have (the "list space home
//     contents" example, cloud.tencent.com/document/product/1339/125000). The next page resumes after
//     that name, so deleting entries between pages neither skips nor repeats any.
//   - Directories first, then files, each by name: order_by "name" (or absent) with order_by_type asc
//     (default) or desc. filter onlyDir / onlyFile. Other order_by values and sort_type=union are
//     answered 400 InvalidParameter: the fake does not implement them.
//   - Entries: name, type ("dir" or "file"), creationTime and modificationTime (the file's time from
//     AddAt; a directory's is that of the file that created it) as "2006-01-02T15:04:05.000Z". The
//     answer carries path, fileCount, subDirCount and totalNum for the whole directory.
//   - The token checks of deletes (EmptyAccessToken, LibraryNotFound, InvalidAccessToken, SpaceNotFound,
//     AccessTokenNotMatchSpace) and no grant: every token may read. A directory that does not exist is
//     404 DirectoryNotFound (also when the path names a file).

// listTimeLayout is how the listing writes times.
const listTimeLayout = "2006-01-02T15:04:05.000Z"

// maxListLimit is the largest limit served (and the default): SMH's documented default.
const maxListLimit = 1000

// defaultPageSize is page_size's documented default.
const defaultPageSize = 20

// dirNode is one directory of a space: its children, and their listing order, built lazily.
type dirNode struct {
	created time.Time
	files   map[string]time.Time // name -> modification time
	dirs    map[string]struct{}
	// order is every child sorted directories first, then by name. It may still hold deleted files
	// (stale of them) until it is rebuilt; dirty means children were added since it was built.
	order []child
	dirty bool
	stale int
}

type child struct {
	name string
	dir  bool
}

func compareChild(a, b child) int {
	if a.dir != b.dir {
		if a.dir {
			return -1
		}
		return 1
	}
	return strings.Compare(a.name, b.name)
}

func newDirNode(created time.Time) *dirNode {
	return &dirNode{created: created, files: map[string]time.Time{}, dirs: map[string]struct{}{}}
}

// live reports whether c is still a child (files may have been deleted since order was built).
func (d *dirNode) live(c child) bool {
	if c.dir {
		return true
	}
	_, ok := d.files[c.name]
	return ok
}

// sorted returns order, rebuilt when children were added or too many were deleted.
func (d *dirNode) sorted() []child {
	if d.dirty || d.stale > len(d.order)/2 {
		d.order = d.order[:0]
		for name := range d.dirs {
			d.order = append(d.order, child{name: name, dir: true})
		}
		for name := range d.files {
			d.order = append(d.order, child{name: name})
		}
		slices.SortFunc(d.order, compareChild)
		d.dirty, d.stale = false, 0
	}
	return d.order
}

// indexAdd records a file in the directory index. Callers hold f.mu.
func (f *Fake) indexAdd(sk spaceKey, path string, modified time.Time) {
	dirs := f.dirs[sk]
	if dirs == nil {
		dirs = map[string]*dirNode{"": newDirNode(modified)}
		f.dirs[sk] = dirs
	}
	parent := dirs[""]
	segs := strings.Split(path, "/")
	for i, seg := range segs[:len(segs)-1] {
		p := strings.Join(segs[:i+1], "/")
		node := dirs[p]
		if node == nil {
			node = newDirNode(modified)
			dirs[p] = node
		}
		if _, ok := parent.dirs[seg]; !ok {
			parent.dirs[seg] = struct{}{}
			parent.dirty = true
		}
		parent = node
	}
	name := segs[len(segs)-1]
	if _, ok := parent.files[name]; !ok {
		parent.dirty = true
	}
	parent.files[name] = modified
}

// indexRemove drops a deleted file from the directory index; its directories stay. Callers hold f.mu.
func (f *Fake) indexRemove(sk spaceKey, path string) {
	dir, name := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	if node := f.dirs[sk][dir]; node != nil {
		if _, ok := node.files[name]; ok {
			delete(node.files, name)
			node.stale++
		}
	}
}

// ListCalls counts directory listing requests, whatever their answer.
func (f *Fake) ListCalls() int { return int(f.listCalls.Load()) }

// ListFaults is the injector in front of the listing API, separate from Faults (deletes) so a test can
// throttle one without the other.
func (f *Fake) ListFaults() *faults.Injector { return f.listFaults }

// listEntry is one element of contents.
type listEntry struct {
	Name             string `json:"name"`
	Type             string `json:"type"`
	CreationTime     string `json:"creationTime"`
	ModificationTime string `json:"modificationTime"`
}

// listAnswer is the listing's 200 body.
type listAnswer struct {
	Path        []string    `json:"path"`
	FileCount   int         `json:"fileCount"`
	SubDirCount int         `json:"subDirCount"`
	TotalNum    int         `json:"totalNum"`
	NextMarker  string      `json:"nextMarker,omitempty"`
	Contents    []listEntry `json:"contents"`
}

// markerKey is what a marker encodes: the last entry of the previous page.
type markerKey struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

func encodeMarker(c child) string {
	k := markerKey{Type: "file", Name: c.name}
	if c.dir {
		k.Type = "dir"
	}
	b, _ := json.Marshal(k)
	return base64.StdEncoding.EncodeToString(b)
}

func decodeMarker(s string) (child, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return child{}, false
	}
	var k markerKey
	if json.Unmarshal(b, &k) != nil || k.Name == "" || k.Type != "dir" && k.Type != "file" {
		return child{}, false
	}
	return child{name: k.Name, dir: k.Type == "dir"}, true
}

// listParams is a parsed listing query.
type listParams struct {
	after        *child // marker paging: resume after this entry
	limit        int    // marker paging; 0 for page paging
	offset, size int    // page paging
	desc         bool
	dirs, files  bool // filter
	markerPaging bool
	invalid      string // a 400 InvalidParameter message, when set
}

func parseListParams(q url.Values) listParams {
	p := listParams{dirs: true, files: true}
	bad := func(msg string) listParams { return listParams{invalid: msg} }
	positive := func(name string) (int, bool) {
		n, err := strconv.Atoi(q.Get(name))
		return n, err == nil && n > 0
	}
	markerMode := q.Has("marker") || q.Has("limit")
	pageMode := q.Has("page") || q.Has("page_size")
	switch {
	case markerMode && pageMode:
		return bad("marker and limit cannot be used with page and page_size.")
	case pageMode:
		page, size := 1, defaultPageSize
		var ok bool
		if q.Has("page") {
			if page, ok = positive("page"); !ok {
				return bad("page must be a positive integer.")
			}
		}
		if q.Has("page_size") {
			if size, ok = positive("page_size"); !ok {
				return bad("page_size must be a positive integer.")
			}
		}
		p.offset, p.size = (page-1)*size, size
	default:
		p.markerPaging, p.limit = true, maxListLimit
		if q.Has("limit") {
			n, ok := positive("limit")
			if !ok {
				return bad("limit must be a positive integer.")
			}
			p.limit = min(n, maxListLimit)
		}
		if m := q.Get("marker"); m != "" {
			c, ok := decodeMarker(m)
			if !ok {
				return bad("Invalid marker.")
			}
			p.after = &c
		}
	}
	switch q.Get("order_by") {
	case "", "name":
	default:
		return bad("order_by " + strconv.Quote(q.Get("order_by")) + " is not implemented by the fake.")
	}
	switch q.Get("order_by_type") {
	case "", "asc":
	case "desc":
		p.desc = true
	default:
		return bad("order_by_type must be asc or desc.")
	}
	switch q.Get("filter") {
	case "":
	case "onlyDir":
		p.files = false
	case "onlyFile":
		p.dirs = false
	default:
		return bad("filter must be onlyDir or onlyFile.")
	}
	if q.Get("sort_type") != "" {
		return bad("sort_type is not implemented by the fake.")
	}
	return p
}

// serveList implements GET /api/v1/directory/{LibraryId}/{SpaceId}/{DirPath}.
func (f *Fake) serveList(w http.ResponseWriter, r *http.Request, rest string) {
	f.listCalls.Add(1)
	if !f.injected(w, r, f.listFaults) {
		return
	}
	if r.Method != http.MethodGet {
		f.writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
		return
	}
	libID, spaceID, dirPath, code, problem := splitDirPath(rest)
	if code != "" {
		f.writeError(w, http.StatusBadRequest, code, problem)
		return
	}
	q := r.URL.Query()
	_, tok, now, ok := f.authorize(w, q, libID, spaceID)
	if !ok {
		return
	}
	// Reading needs no grant: "If left empty, only read permission is granted."
	tok.extend(now)

	p := parseListParams(q)
	if p.invalid != "" {
		f.writeError(w, http.StatusBadRequest, "InvalidParameter", p.invalid)
		return
	}
	ans, ok := f.listPage(spaceKey{libID, spaceID}, dirPath, p)
	if !ok {
		f.writeError(w, http.StatusNotFound, "DirectoryNotFound", "")
		return
	}
	f.writeJSON(w, http.StatusOK, ans)
}

// listPage builds one page under the lock: a binary search to the marker, then at most one page of
// live entries (plus one more to know whether a next page exists).
func (f *Fake) listPage(sk spaceKey, dirPath string, p listParams) (listAnswer, bool) {
	type item struct {
		c        child
		modified time.Time
	}
	f.mu.Lock()
	node := f.dirs[sk][dirPath]
	if node == nil {
		f.mu.Unlock()
		if dirPath == "" {
			return listAnswer{Path: []string{}, Contents: []listEntry{}}, true // an empty space's root
		}
		return listAnswer{}, false
	}
	order := node.sorted()
	nd := sort.Search(len(order), func(i int) bool { return !order[i].dir })
	// The listing sequence is the directories, then the files, each in name order (reversed for desc).
	segments := [][]child{order[:nd], order[nd:]}
	if !p.dirs {
		segments[0] = nil
	}
	if !p.files {
		segments[1] = nil
	}
	if p.after != nil {
		seg := 1
		if p.after.dir {
			seg = 0
		} else {
			segments[0] = nil
		}
		s := segments[seg]
		if p.desc {
			segments[seg] = s[:sort.Search(len(s), func(i int) bool { return s[i].name >= p.after.name })]
		} else {
			segments[seg] = s[sort.Search(len(s), func(i int) bool { return s[i].name > p.after.name }):]
		}
	}
	want, skip := p.limit, 0
	if !p.markerPaging {
		want, skip = p.size, p.offset
	}
	var page []item
	more := false
walk:
	for _, s := range segments {
		for i := range s {
			c := s[i]
			if p.desc {
				c = s[len(s)-1-i]
			}
			if !node.live(c) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if len(page) == want {
				more = true
				break walk
			}
			modified := node.created
			if !c.dir {
				modified = node.files[c.name]
			}
			page = append(page, item{c, modified})
		}
	}
	ans := listAnswer{FileCount: len(node.files), SubDirCount: len(node.dirs)}
	f.mu.Unlock()

	ans.TotalNum = ans.FileCount + ans.SubDirCount
	ans.Path = []string{}
	if dirPath != "" {
		ans.Path = strings.Split(dirPath, "/")
	}
	if more && p.markerPaging {
		ans.NextMarker = encodeMarker(page[len(page)-1].c)
	}
	ans.Contents = make([]listEntry, len(page))
	for i, it := range page {
		e := listEntry{Name: it.c.name, Type: "file", ModificationTime: it.modified.UTC().Format(listTimeLayout)}
		if it.c.dir {
			e.Type = "dir"
		}
		e.CreationTime = e.ModificationTime
		ans.Contents[i] = e
	}
	return ans, true
}

// splitDirPath decodes {LibraryId}/{SpaceId}[/{DirPath}] segment by segment (see decodeSegments); an
// empty or absent DirPath (".../-/" or ".../-") is the root.
func splitDirPath(rest string) (lib, space, dir, code, problem string) {
	segs := strings.Split(rest, "/")
	if len(segs) == 3 && segs[2] == "" {
		segs = segs[:2] // the root, written with its trailing slash
	}
	if len(segs) < 2 {
		return "", "", "", "InvalidPath", "Missing space id."
	}
	if code, problem := decodeSegments(segs); code != "" {
		return "", "", "", code, problem
	}
	return segs[0], segs[1], strings.Join(segs[2:], "/"), "", ""
}
