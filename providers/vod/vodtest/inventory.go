package vodtest

import (
	"slices"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// Media is one media file in the fake's inventory: its identity, the metadata SearchMedia filters on,
// and the parts DeleteMedia can remove one by one.
type Media struct {
	// FileID and SubAppID identify the media (SubAppID 0 is the account's primary application).
	FileID   string
	SubAppID uint64
	// CreateTime is when the media was uploaded; retention policies select on it.
	CreateTime time.Time
	// ClassID, Category ("Video", "Audio", "Image"), SourceType ("Upload", "Record", ...) and
	// StorageRegion ("ap-guangzhou", ...) are SearchMedia's filters; empty when not set.
	ClassID       int64
	Category      string
	SourceType    string
	StorageRegion string
	// Parts maps a MediaDeleteItem type (providers.VODPartTypes) to the definitions present: the
	// transcoding or adaptive-streaming template ids, and 0 for OriginalFiles. A type with no entry
	// has nothing left.
	Parts map[string][]int64
}

// DefaultParts is what Add gives a new media: the original file, three transcodes (the standard MP4
// templates 100010, 100020 and 100030) and one adaptive-streaming package (template 10).
func DefaultParts() map[string][]int64 {
	return map[string][]int64{
		"OriginalFiles":                 {0},
		"TranscodeFiles":                {100010, 100020, 100030},
		"AdaptiveDynamicStreamingFiles": {10},
	}
}

// clone returns a deep copy, so callers never share the inventory's slices.
func (m Media) clone() Media {
	parts := make(map[string][]int64, len(m.Parts))
	for k, v := range m.Parts {
		if len(v) > 0 {
			parts[k] = slices.Clone(v)
		}
	}
	m.Parts = parts
	return m
}

// hasAny reports whether any of the named parts is present; Definition 0 stands for any definition of
// its type, and OriginalFiles has no definitions to choose from.
func (m *Media) hasAny(parts []providers.DeletePart) bool {
	for _, p := range parts {
		defs := m.Parts[p.Type]
		if len(defs) > 0 && (p.Definition == 0 || p.Type == "OriginalFiles" || slices.Contains(defs, p.Definition)) {
			return true
		}
	}
	return false
}

// removeParts deletes the named parts. Definition 0 removes every definition of the type; a definition
// that is not present is ignored, as deleting an absent part leaves the goal achieved. The original
// file has no template, so OriginalFiles removes it whatever the definition.
func (m *Media) removeParts(parts []providers.DeletePart) {
	for _, p := range parts {
		if p.Definition == 0 || p.Type == "OriginalFiles" {
			delete(m.Parts, p.Type)
			continue
		}
		defs := slices.DeleteFunc(m.Parts[p.Type], func(d int64) bool { return d == p.Definition })
		if len(defs) == 0 {
			delete(m.Parts, p.Type)
		} else {
			m.Parts[p.Type] = defs
		}
	}
}

// mediaKey identifies one media in the inventory.
type mediaKey struct {
	subApp uint64
	fileID string
}

func keyOf(t providers.Target) mediaKey { return mediaKey{subApp: t.SubAppID, fileID: t.FileID} }
