package smh

// List finds the files a retention policy selects, through the business API's "list directory or
// album" call. What this file relies on, and where it was verified:
//
//   - Request (www.tencentcloud.com/document/product/1283/75453 "List Directory or Album"; zh:
//     cloud.tencent.com/document/product/1339, same text; Java SDK SMHClient.getDirectoryContents):
//     GET /api/v1/directory/{LibraryId}/{SpaceId}/{DirPath}?marker=&limit=&order_by=&order_by_type=
//     &filter=&access_token=&user_id= . DirPath is "foo/bar" for nested directories and blank for the
//     root. Paging is either marker+limit ("sequential listing") or page+page_size (default 20), never
//     both. order_by is name | modificationTime | size | creationTime | ...; order_by_type asc | desc;
//     filter onlyDir | onlyFile (absent: both). Without sort_type directories come first, then files.
//     The iOS SDK documents limit's default as 1000 ("如不指定则默认为 1000") and the marker as the value
//     the previous answer returned for the next request.
//   - Answer (Java SDK DirectoryContentsResponse / DirectoryInfoResponse, Android SDK
//     DirectoryContents): {"path":[...],"fileCount":n,"subDirCount":n,"totalNum":n,"eTag":"...",
//     "nextMarker":"..." (documented as "string or integer"; absent on the last page),"contents":[{"name",
//     "type","creationTime","modificationTime","size" (a string),"eTag","crc64",...}]}. type is "dir"
//     (a directory, or an album in a media library), "file" (file libraries), "image" or "video" (media
//     libraries), or "symlink". modificationTime is "the last time the file was overwritten"; times are
//     ISO 8601 UTC, "2006-01-02T15:04:05.000Z" (the Android SDK's parser also accepts them without the
//     fraction).
//   - Errors: the business API's table (www.tencentcloud.com/document/product/1283/75500) lists 404
//     DirectoryNotFound; everything else (InvalidAccessToken, SpaceNotFound, RateLimitExceeded, ...) is
//     shared with Delete and classified by the same table.
//   - Permission: the token API (www.tencentcloud.com/document/product/1283/75415) says of grant: "If left
//     empty, only read permission is granted. You can specify this parameter to add multiple
//     permissions": grants add to reading, they do not replace it. The listing page names no grant (the
//     delete page does), so the client's delete-only token lists too and Grants stays as it is.
//
// Paging under concurrent deletes. The marker is opaque; the sibling "list space home contents" call
// (cloud.tencent.com/document/product/1339/125000) shows what SMH puts in one: base64 of
// {"type":"file","name":"BMW0.32514518893061695.jpg"}, the type and name of the last item returned. Such a
// keyset marker resumes after a name, not at a position, so files deleted while the listing goes on
// (the scheduler enqueues what fn receives; workers may delete at once) cannot make it skip or repeat
// anything, and List streams page by page instead of collecting a directory first. To keep that order
// well defined whatever the library type (media libraries otherwise list by upload time) List asks for
// order_by=name&order_by_type=asc. Were a server's marker ever positional instead, the worst case is a
// file skipped this run and found by the next one: List never hands fn a file twice, and never a file
// it was not told about.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// Listing page sizes (the limit parameter).
const (
	// DefaultListPageSize is the limit List asks for when ListQuery.PageSize is 0. It is below SMH's
	// own default (1000) so a page of richly described entries stays well under the 1 MiB body cap;
	// a page over the cap is asked for again at half the size anyway.
	DefaultListPageSize = 200
	// MaxListPageSize is the largest ListQuery.PageSize accepted: SMH's documented default limit.
	MaxListPageSize = 1000
)

// ListQuery selects the files List visits: those under one directory of one library space whose
// modification time is older than a cutoff.
type ListQuery struct {
	// LibraryID and SpaceID name the library space to list. Empty: Config.LibraryID and Config.SpaceID,
	// as for Delete.
	LibraryID, SpaceID string
	// Prefix is the directory to list, as a path ("videos/2024"); "" is the root. It follows the path
	// rules of targets: no leading, trailing or doubled '/', no "." or ".." segment.
	Prefix string
	// Recursive makes List descend into subdirectories (and albums) of Prefix.
	Recursive bool
	// ModifiedBefore is the cutoff: only files modified strictly before it are handed to fn. Required.
	ModifiedBefore time.Time
	// PageSize is the number of entries asked for per request. Default DefaultListPageSize; at most
	// MaxListPageSize.
	PageSize int
	// Skipped, when set, hears of each entry List passes over because it cannot be used: a name that
	// is not one valid path segment (a control character, a '/', "." or "..") or a file whose
	// modificationTime does not parse. name is the entry's path as listed, cut to a few dozen bytes
	// (it comes from the server). Such entries are skipped whether or not Skipped is set: one odd
	// entry must not stop a retention policy for good, and none is ever handed to fn.
	Skipped func(name string, reason error)
}

// List calls fn once for every file under q.Prefix (and its subdirectories when q.Recursive) whose
// modification time is strictly before q.ModifiedBefore, with a Target ready for Delete (provider,
// library, space and full path) and that modification time. Files are visited directory by directory,
// in name order within a directory, each directory's files before its subdirectories.
//
// Only files are handed to fn: entries of type "file", "image" and "video". Directories and albums
// ("dir") are descended into when q.Recursive and never deleted; symbolic links ("symlink") and types
// SMH may add later are skipped, since deleting them is not what a retention policy on files means.
//
// List streams: it holds one page of entries and the names of the subdirectories still to visit, never
// a whole directory, so fn may delete (or enqueue deletes of) what it receives while List goes on; see
// the paging note at the top of list.go. Tokens are those of Delete: cached per (library, space),
// renewed once when SMH answers 403 InvalidAccessToken.
//
// Entries List cannot use (see ListQuery.Skipped) are skipped, never handed to fn and never descended
// into. List stops at the first error: fn's own, unchanged; ctx's end; or a *providers.Error classified as
// for Delete (Throttled with RetryAfter, Retry, Auth, Fatal). Never Gone: a prefix directory that does
// not exist is a Fatal configuration error naming the directory. A subdirectory that disappears while
// List walks the tree (someone deleted it) is skipped. An invalid query fails with class fatal and code
// "InvalidQuery" before any request.
func (c *Client) List(ctx context.Context, q ListQuery, fn func(t providers.Target, modified time.Time) error) error {
	if q.LibraryID == "" {
		q.LibraryID = c.libraryID
	}
	if q.SpaceID == "" {
		q.SpaceID = c.spaceID
	}
	base, err := c.checkQuery(q, fn)
	if err != nil {
		return &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidQuery", Err: err}
	}
	if q.PageSize == 0 {
		q.PageSize = DefaultListPageSize
	}
	l := &lister{c: c, base: base, q: q, fn: fn, limit: q.PageSize,
		key: tokenKey{library: q.LibraryID, space: q.SpaceID}}
	return l.directory(ctx, q.Prefix, true)
}

// checkQuery validates a query with defaults applied and returns the endpoint to use for it.
func (c *Client) checkQuery(q ListQuery, fn func(providers.Target, time.Time) error) (string, error) {
	var errs []error
	if q.Prefix != "" {
		if err := providers.CheckPath(q.Prefix); err != nil {
			var fe *providers.FieldError
			if errors.As(err, &fe) {
				err = &providers.FieldError{Field: "prefix", Problem: fe.Problem}
			}
			errs = append(errs, err)
		}
	}
	if q.ModifiedBefore.IsZero() {
		errs = append(errs, &providers.FieldError{Field: "modified_before", Problem: "is required"})
	}
	if q.PageSize < 0 || q.PageSize > MaxListPageSize {
		errs = append(errs, &providers.FieldError{Field: "page_size", Problem: fmt.Sprintf("must be 0 (default) to %d", MaxListPageSize)})
	}
	if fn == nil {
		errs = append(errs, errors.New("fn is required"))
	}
	// The library and space follow the rules of targets; the probe path is never requested.
	base, err := c.check(providers.Target{Provider: providers.SMH, LibraryID: q.LibraryID, SpaceID: q.SpaceID, Path: "x"})
	if err != nil {
		errs = append(errs, err)
	}
	return base, errors.Join(errs...)
}

// lister is one List in progress.
type lister struct {
	c     *Client
	base  string
	key   tokenKey
	q     ListQuery
	fn    func(providers.Target, time.Time) error
	limit int // page size, halved while a page exceeds the body cap
}

// Entry types of the listing answer.
const (
	typeDir     = "dir"
	typeFile    = "file"
	typeImage   = "image"
	typeVideo   = "video"
	typeSymlink = "symlink"
)

// listEntry is one element of contents, reduced to what List needs.
type listEntry struct {
	Name             string `json:"name"`
	Type             string `json:"type"`
	ModificationTime string `json:"modificationTime"`
}

// listPage is one listing answer.
type listPage struct {
	NextMarker marker      `json:"nextMarker"`
	Contents   []listEntry `json:"contents"`
}

// decodeListPage reads a listing answer: a JSON object with a contents array (null or empty for an
// empty directory). Anything else is not SMH's listing, whatever the status said.
func decodeListPage(body []byte) (listPage, bool) {
	var raw struct {
		NextMarker marker          `json:"nextMarker"`
		Contents   json.RawMessage `json:"contents"`
	}
	if json.Unmarshal(body, &raw) != nil || len(raw.Contents) == 0 {
		return listPage{}, false
	}
	p := listPage{NextMarker: raw.NextMarker}
	if json.Unmarshal(raw.Contents, &p.Contents) != nil {
		return listPage{}, false
	}
	return p, true
}

// marker is nextMarker, which SMH documents as "string or integer": kept as the text to send back.
type marker string

func (m *marker) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*m = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*m = marker(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("nextMarker is neither a string nor a number")
		}
		if strings.HasPrefix(n.String(), "-") {
			*m = "" // the Android SDK's "no next page" (-1)
		} else {
			*m = marker(n.String())
		}
	}
	return nil
}

// directory visits one directory: its files page by page, then (when recursive) its subdirectories.
// root tells the listed prefix from a subdirectory found on the way.
func (l *lister) directory(ctx context.Context, dir string, root bool) error {
	var subdirs []string
	var next marker
	for {
		page, err := l.page(ctx, dir, next)
		if err != nil {
			if pe, ok := providers.AsError(err); ok && pe.Class == providers.Gone {
				if !root {
					return nil // deleted while we walked the tree: nothing left to visit
				}
				pe.Class = providers.Fatal
				pe.Message = fmt.Sprintf("directory %q does not exist in library %s space %s (check the policy's path prefix): %s",
					dir, l.q.LibraryID, l.q.SpaceID, pe.Message)
				pe.Bound()
			}
			return err
		}
		for _, e := range page.Contents {
			if err := ctx.Err(); err != nil {
				return providers.TransportError(providers.SMH, err)
			}
			if err := checkName(e.Name); err != nil {
				l.skip(dir, e.Name, err)
				continue
			}
			switch e.Type {
			case typeDir:
				if l.q.Recursive {
					subdirs = append(subdirs, e.Name)
				}
			case typeFile, typeImage, typeVideo:
				modified, err := time.Parse(time.RFC3339Nano, e.ModificationTime)
				if err != nil {
					l.skip(dir, e.Name, fmt.Errorf("modificationTime %q is not ISO 8601", brief(e.ModificationTime)))
					continue
				}
				if !modified.Before(l.q.ModifiedBefore) {
					continue
				}
				t := providers.Target{Provider: providers.SMH, LibraryID: l.q.LibraryID, SpaceID: l.q.SpaceID, Path: join(dir, e.Name)}
				if err := l.fn(t, modified.UTC()); err != nil {
					return err
				}
			case typeSymlink:
				// A link, not a file: deleting it is not what a retention policy on files means.
			default:
				// A type SMH adds later: skipped until someone decides what it means.
			}
		}
		if page.NextMarker == "" {
			break
		}
		if page.NextMarker == next {
			return invalidListing(dir, "nextMarker did not advance")
		}
		next = page.NextMarker
	}
	for _, sub := range subdirs {
		if err := l.directory(ctx, join(dir, sub), false); err != nil {
			return err
		}
	}
	return nil
}

// skip passes over an entry of dir that cannot be used, telling ListQuery.Skipped.
func (l *lister) skip(dir, name string, reason error) {
	if l.q.Skipped != nil {
		l.q.Skipped(brief(join(dir, name)), reason)
	}
}

// page fetches one page of dir after next, renewing the token once if SMH rejects it and halving the
// page size (for this and later pages) while an answer exceeds the body cap.
func (l *lister) page(ctx context.Context, dir string, next marker) (listPage, error) {
	for {
		if err := ctx.Err(); err != nil {
			return listPage{}, providers.TransportError(providers.SMH, err)
		}
		var page listPage
		var tooLarge bool
		perr := l.c.withToken(ctx, l.base, l.key, func(tok string) *providers.Error {
			resp, perr := l.c.send(ctx, http.MethodGet, l.pageURL(dir, next, tok), tok)
			if perr != nil {
				return perr
			}
			if resp.readErr != nil {
				if providers.IsBodyTooLarge(resp.readErr) {
					tooLarge = true
					return nil
				}
				return invalidListingID(dir, "the answer was cut short", resp.requestID)
			}
			var ok bool
			if page, ok = decodeListPage(resp.body); !ok {
				return invalidListingID(dir, "the body is not a directory listing", resp.requestID)
			}
			return nil
		})
		if perr != nil {
			return listPage{}, perr
		}
		if !tooLarge {
			return page, nil
		}
		if l.limit == 1 {
			return listPage{}, invalidListing(dir, "a page of one entry exceeds the body cap")
		}
		l.limit /= 2
	}
}

// pageURL builds the listing request: GET /api/v1/directory/{LibraryId}/{SpaceId}/{DirPath}?... with each
// path segment escaped on its own (the root is the empty DirPath, ".../{SpaceId}/").
func (l *lister) pageURL(dir string, next marker, tok string) string {
	var b strings.Builder
	b.Grow(len(l.base) + len(l.q.LibraryID) + len(dir) + len(next) + len(tok) + 128)
	b.WriteString(l.base)
	b.WriteString("/api/v1/directory/")
	b.WriteString(url.PathEscape(l.q.LibraryID))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(l.q.SpaceID))
	b.WriteByte('/')
	if dir != "" {
		b.WriteString(providers.EscapePath(dir))
	}
	b.WriteString("?limit=")
	b.WriteString(strconv.Itoa(l.limit))
	if next != "" {
		b.WriteString("&marker=")
		b.WriteString(url.QueryEscape(string(next)))
	}
	b.WriteString("&order_by=name&order_by_type=asc")
	if !l.q.Recursive {
		b.WriteString("&filter=onlyFile") // subdirectories would only be skipped
	}
	b.WriteString("&access_token=")
	b.WriteString(url.QueryEscape(tok))
	return b.String()
}

// checkName accepts an entry name that is one path segment, as CheckPath would.
func checkName(name string) error {
	if strings.ContainsRune(name, '/') {
		return fmt.Errorf("name %q containing '/'", brief(name))
	}
	if err := providers.CheckPath(name); err != nil {
		return fmt.Errorf("name %q: %w", brief(name), err)
	}
	return nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// brief shortens server text quoted in an error, on a UTF-8 boundary.
func brief(s string) string { return providers.Cut(s, 96) }

// invalidListing is a success answer List cannot use. Like any unknown answer it is retried: a file
// whose path or modification time cannot be read is never handed to fn.
func invalidListing(dir, msg string) *providers.Error { return invalidListingID(dir, msg, "") }

func invalidListingID(dir, msg, requestID string) *providers.Error {
	return &providers.Error{Provider: providers.SMH, Class: providers.Retry, HTTPStatus: http.StatusOK,
		Code: "InvalidResponse", Message: fmt.Sprintf("listing directory %q: %s", dir, msg), RequestID: requestID}
}
