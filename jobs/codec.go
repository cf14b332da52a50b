package jobs

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/reaper-media/reaper/providers"
)

// Payload version 2, the compact form (issue 11: Redis memory per queued task). asynq keeps each task
// as a hash whose msg field holds the payload; Redis keeps a hash of short values as one listpack, and
// a msg under hash-max-listpack-value is what makes a task cost under 300 bytes. So the payload is
// binary and holds only what is set:
//
//	byte 0     2 (a version 1 payload is JSON and starts with '{')
//	then       fields in increasing field number, each a tag byte (number<<2 | form) and its value
//
// A string field's form says how it is packed: raw (uvarint length, bytes), hex (a lowercase hex
// string of even length as its bytes: uvarint length, bytes), decimal (a canonical base-10 number as
// its uvarint) or form 3: for the batch id a NewBatchID id (uvarint unix seconds, 4 bytes), for any
// other field unpadded URL-safe base64 as its bytes (uvarint length, bytes; enqueue ids). The
// encoder takes the shortest form that gives the string back exactly; numbers are uvarints, permanent
// is a tag without value (present means true), delete_parts the JSON object {"delete_parts":[...]}.
//
// The decoder is as strict as the JSON one: an unknown field or form, a field out of order or twice,
// invalid UTF-8 or bytes after the last field make the payload invalid, never something else.
const (
	formRaw   = 0
	formHex   = 1
	formDec   = 2
	formBatch = 3 // the batch field's; base64 for the others
	formB64   = 3
)

// Field numbers of payload version 2. Never reuse one: a queued task outlives a release.
const (
	pfProvider    = 1
	pfBatch       = 2
	pfEnqueueID   = 3
	pfOp          = 4
	pfRecycledID  = 5
	pfConflict    = 6
	pfFileID      = 8
	pfProjectID   = 9
	pfAppUserID   = 10
	pfLibraryID   = 11
	pfSpaceID     = 12
	pfPath        = 13
	pfPermanent   = 14
	pfUserID      = 15
	pfSubAppID    = 16
	pfDeleteParts = 17
)

// payloadStrings are the payload's string fields and where each lives.
var payloadStrings = []struct {
	num int
	at  func(*Payload) *string
}{
	{pfBatch, func(p *Payload) *string { return &p.Batch }},
	{pfEnqueueID, func(p *Payload) *string { return &p.EnqueueID }},
	{pfOp, func(p *Payload) *string { return &p.Op }},
	{pfConflict, func(p *Payload) *string { return (*string)(&p.Conflict) }},
	{pfFileID, func(p *Payload) *string { return &p.Target.FileID }},
	{pfProjectID, func(p *Payload) *string { return &p.Target.ProjectID }},
	{pfAppUserID, func(p *Payload) *string { return &p.Target.AppUserID }},
	{pfLibraryID, func(p *Payload) *string { return &p.Target.LibraryID }},
	{pfSpaceID, func(p *Payload) *string { return &p.Target.SpaceID }},
	{pfPath, func(p *Payload) *string { return &p.Target.Path }},
	{pfUserID, func(p *Payload) *string { return &p.Target.UserID }},
}

// encodeCompact is payload version 2 of a validated p.
func encodeCompact(p Payload) ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, 2)
	b = appendString(b, pfProvider, string(p.Target.Provider), false)
	str := func(num int) {
		for _, f := range payloadStrings {
			if f.num == num {
				if v := *f.at(&p); v != "" {
					b = appendString(b, num, v, num == pfBatch)
				}
			}
		}
	}
	uvarint := func(num int, v uint64) {
		if v != 0 {
			b = append(b, byte(num<<2))
			b = binary.AppendUvarint(b, v)
		}
	}
	str(pfBatch)
	str(pfEnqueueID)
	str(pfOp)
	uvarint(pfRecycledID, uint64(p.RecycledItemID))
	str(pfConflict)
	for num := pfFileID; num <= pfPath; num++ {
		str(num)
	}
	if p.Target.Permanent {
		b = append(b, byte(pfPermanent<<2))
	}
	str(pfUserID)
	uvarint(pfSubAppID, p.Target.SubAppID)
	if len(p.Target.DeleteParts) > 0 {
		parts, err := json.Marshal(deleteParts{p.Target.DeleteParts})
		if err != nil {
			return nil, err
		}
		b = appendString(b, pfDeleteParts, string(parts), false)
	}
	return b, nil
}

// appendString appends string field num in its shortest exact form.
func appendString(b []byte, num int, s string, batch bool) []byte {
	best := append(binary.AppendUvarint([]byte{byte(num<<2 | formRaw)}, uint64(len(s))), s...)
	try := func(form byte, value []byte) {
		if len(value) > 0 && len(value) < len(best) {
			best = append([]byte{byte(num<<2) | form}, value...)
		}
	}
	if raw, err := hex.DecodeString(s); err == nil && len(s) > 0 && hex.EncodeToString(raw) == s {
		try(formHex, append(binary.AppendUvarint(nil, uint64(len(raw))), raw...))
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && strconv.FormatUint(n, 10) == s {
		try(formDec, binary.AppendUvarint(nil, n))
	}
	if batch {
		if v, ok := packBatchID(s); ok {
			try(formBatch, v)
		}
	} else if raw, err := base64.RawURLEncoding.DecodeString(s); err == nil && len(s) > 0 && base64.RawURLEncoding.EncodeToString(raw) == s {
		try(formB64, append(binary.AppendUvarint(nil, uint64(len(raw))), raw...))
	}
	return append(b, best...)
}

// packBatchID packs an id NewBatchID made (20261121T124500Z-3fa2c1d0) as its time and random part.
func packBatchID(id string) ([]byte, bool) {
	if !ValidBatchID(id) {
		return nil, false
	}
	at, err := time.Parse(batchIDTime, id[:len(batchIDTime)])
	rnd, herr := hex.DecodeString(id[len(batchIDTime)+1:])
	if err != nil || herr != nil || at.Unix() < 0 || unpackBatchID(uint64(at.Unix()), rnd) != id {
		return nil, false
	}
	return append(binary.AppendUvarint(nil, uint64(at.Unix())), rnd...), true
}

func unpackBatchID(sec uint64, rnd []byte) string {
	return time.Unix(int64(sec), 0).UTC().Format(batchIDTime) + "-" + hex.EncodeToString(rnd)
}

// decodeCompact parses payload version 2 (b[0] is 2).
func decodeCompact(b []byte) (Payload, error) {
	p := Payload{V: 2}
	r := compactReader{b: b[1:]}
	last := 0
	for len(r.b) > 0 {
		tag := r.b[0]
		r.b = r.b[1:]
		num, form := int(tag>>2), int(tag&3)
		if num <= last {
			return p, fmt.Errorf("field %d out of order or repeated", num)
		}
		last = num
		switch num {
		case pfProvider:
			s, err := r.str(form, false)
			if err != nil {
				return p, fmt.Errorf("field provider: %w", err)
			}
			p.Target.Provider = providers.Name(s)
		case pfRecycledID, pfSubAppID:
			v, err := r.uvarint(form)
			if err != nil {
				return p, fmt.Errorf("field %d: %w", num, err)
			}
			if num == pfSubAppID {
				p.Target.SubAppID = v
			} else if v > 1<<62 {
				return p, errors.New("field rid: out of range")
			} else {
				p.RecycledItemID = int64(v)
			}
		case pfPermanent:
			if form != formRaw {
				return p, errors.New("field permanent: unknown form")
			}
			p.Target.Permanent = true
		case pfDeleteParts:
			s, err := r.str(form, false)
			if err != nil {
				return p, fmt.Errorf("field delete_parts: %w", err)
			}
			if err := checkStrictJSON([]byte(s), deletePartsType); err != nil {
				return p, fmt.Errorf("field delete_parts: %w", err)
			}
			var d deleteParts
			if err := json.Unmarshal([]byte(s), &d); err != nil {
				return p, fmt.Errorf("field delete_parts: %w", err)
			}
			p.Target.DeleteParts = d.Parts
		default:
			found := false
			for _, f := range payloadStrings {
				if f.num == num {
					s, err := r.str(form, num == pfBatch)
					if err != nil {
						return p, fmt.Errorf("field %d: %w", num, err)
					}
					*f.at(&p) = s
					found = true
				}
			}
			if !found {
				return p, fmt.Errorf("unknown field %d", num)
			}
		}
	}
	return p, nil
}

// deleteParts is how version 2 carries a VOD target's delete parts: the JSON object a manifest line
// would hold them in, checked as strictly.
type deleteParts struct {
	Parts []providers.DeletePart `json:"delete_parts"`
}

var deletePartsType = reflect.TypeFor[deleteParts]()

// compactReader reads payload version 2 values.
type compactReader struct{ b []byte }

var errTruncated = errors.New("truncated")

func (r *compactReader) uvarint(form int) (uint64, error) {
	if form != formRaw {
		return 0, errors.New("unknown form")
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, errTruncated
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *compactReader) bytes() ([]byte, error) {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		return nil, errTruncated
	}
	v := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return v, nil
}

func (r *compactReader) str(form int, batch bool) (string, error) {
	switch {
	case form == formRaw:
		v, err := r.bytes()
		if err != nil {
			return "", err
		}
		if !utf8.Valid(v) {
			return "", errors.New("not valid UTF-8")
		}
		return string(v), nil
	case form == formHex:
		v, err := r.bytes()
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(v), nil
	case form == formDec:
		v, err := r.uvarint(formRaw)
		return strconv.FormatUint(v, 10), err
	case form == formB64 && !batch:
		v, err := r.bytes()
		if err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(v), nil
	case form == formBatch && batch:
		sec, err := r.uvarint(formRaw)
		if err != nil || len(r.b) < 4 || sec > 1<<40 {
			return "", errTruncated
		}
		rnd := r.b[:4]
		r.b = r.b[4:]
		return unpackBatchID(sec, rnd), nil
	}
	return "", errors.New("unknown form")
}
