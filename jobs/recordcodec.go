package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// The compact record (issue 11: Redis memory per retained record). A batch's records are the fields
// of reaper:batch:<id>:out, one per target, named by the target's key; the key already names the
// target, so the value holds only the rest:
//
//	<code><attempts>|<first attempt>|<last attempt - first>|<enqueue id>[|<recycle-bin item>[|<extras>]]
//
// for instance "d1|miy3x2kr|0|P8qKc2Bd": code is the outcome's letter (outcomeCodes), the times are
// unix milliseconds and the item id in base 36, and the extras a JSON object, there only when one of
// its fields is set: the provider's answer to a call that failed (status, code, message, request id),
// and the target's fields its key does not give back (an SMH permanent delete, an MSS app user; all of
// it when the key cannot be parsed). Every byte counts: a value under 28 bytes takes Redis's 32-byte
// allocation, the next is 48. So a success keeps no request id (the stream entry has it). The finish
// script writes the first four parts and reads them back; records an earlier release wrote (Record
// JSON) are read too.

// outcomeCodes are the outcomes' letters in a compact record. Never reuse one.
var outcomeCodes = map[Outcome]string{
	Deleted: "d", Recycled: "r", AlreadyGone: "g", Failed: "f", Cancelled: "c", DryRun: "n",
	Restored: "R", NotFound: "N", Conflict: "C",
}

// outcomeOfCode is outcomeCodes inverted.
var outcomeOfCode = func() map[byte]Outcome {
	m := map[byte]Outcome{}
	for o, c := range outcomeCodes {
		m[c[0]] = o
	}
	return m
}()

// recordExtras are a compact record's optional fields.
type recordExtras struct {
	HTTPStatus int    `json:"st,omitempty"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"msg,omitempty"`
	RequestID  string `json:"req,omitempty"`
	// Diff is what the key does not give back: the fields ParseKey(key) lacks; Target is the whole
	// target, there instead when the key cannot be parsed.
	Diff   *providers.Target `json:"t,omitempty"`
	Target *providers.Target `json:"T,omitempty"`
}

// recordExtrasOf is what follows the enqueue id in r's compact record: "", "|<item>" or
// "|<item>|<extras>" (the item empty when there is none).
func recordExtrasOf(r Record) (string, error) {
	x := recordExtras{HTTPStatus: r.HTTPStatus, Code: r.Code, Message: r.Message}
	if r.Outcome == Failed || r.Outcome == Conflict {
		x.RequestID = r.RequestID // what to quote to the provider about a failure; a success's is on the stream
	}
	if base, ok := providers.ParseKey(r.Key); ok && base.Provider == r.Target.Provider {
		if d := r.Target.Diff(base); !d.Equal(providers.Target{}) {
			x.Diff = &d
		}
		if !base.Patch(x.targetDiff()).Equal(r.Target) {
			x.Diff, x.Target = nil, &r.Target // cannot happen for a target whose key r.Key is; never guess
		}
	} else {
		x.Target = &r.Target
	}
	item := ""
	if r.RecycledItemID != 0 {
		if r.RecycledItemID < 0 {
			return "", fmt.Errorf("recycled item id %d is negative", r.RecycledItemID)
		}
		item = strconv.FormatInt(r.RecycledItemID, 36)
	}
	if x == (recordExtras{}) {
		if item == "" {
			return "", nil
		}
		return "|" + item, nil
	}
	b, err := json.Marshal(x)
	if err != nil {
		return "", err
	}
	return "|" + item + "|" + string(b), nil
}

func (x recordExtras) targetDiff() providers.Target {
	if x.Diff == nil {
		return providers.Target{}
	}
	return *x.Diff
}

// decodeRecord reads the record of target key in batch: compact, or the JSON of an earlier release.
func decodeRecord(batch, key, v string) (Record, error) {
	if strings.HasPrefix(v, "{") {
		var r Record
		err := json.Unmarshal([]byte(v), &r)
		return r, err
	}
	bad := func(why string) (Record, error) { return Record{}, fmt.Errorf("compact record %q: %s", v, why) }
	if v == "" {
		return bad("empty")
	}
	outcome, ok := outcomeOfCode[v[0]]
	if !ok {
		return bad("unknown outcome code")
	}
	parts := strings.SplitN(v[1:], "|", 6)
	if len(parts) < 4 {
		return bad("too few parts")
	}
	var n [3]int64
	for i, base := range []int{10, 36, 36} {
		var err error
		if n[i], err = strconv.ParseInt(parts[i], base, 64); err != nil || n[i] < 0 {
			return bad("part " + strconv.Itoa(i+1) + " is not a count")
		}
	}
	r := Record{Batch: batch, Key: key, EnqueueID: parts[3], Outcome: outcome, Attempts: int(n[0]),
		FirstAttempt: time.UnixMilli(n[1]).UTC(), LastAttempt: time.UnixMilli(n[1] + n[2]).UTC()}
	if len(parts) > 4 && parts[4] != "" {
		var err error
		if r.RecycledItemID, err = strconv.ParseInt(parts[4], 36, 64); err != nil || r.RecycledItemID <= 0 {
			return bad("the recycle-bin item is not an id")
		}
	}
	var x recordExtras
	if len(parts) > 5 {
		if err := json.Unmarshal([]byte(parts[5]), &x); err != nil {
			return bad("extras: " + err.Error())
		}
	}
	r.HTTPStatus, r.Code, r.Message, r.RequestID = x.HTTPStatus, x.Code, x.Message, x.RequestID
	if x.Target != nil {
		r.Target = *x.Target
	} else if base, ok := providers.ParseKey(key); ok {
		r.Target = base.Patch(x.targetDiff())
	} else {
		return bad("its key names no target")
	}
	r.Provider = r.Target.Provider
	return r, nil
}

// base36Lua defines b36(n), a non-negative integer in base 36 (strconv.FormatInt(n, 36)), for the
// finish script's record times.
const base36Lua = `
local function b36(n)
  n = math.floor(n)
  if n <= 0 then return '0' end
  local s = ''
  while n > 0 do
    local d = n % 36
    s = string.sub('0123456789abcdefghijklmnopqrstuvwxyz', d + 1, d + 1) .. s
    n = math.floor(n / 36)
  end
  return s
end
`

// rfc3339Lua defines rfc3339(ms) for the finish script: unix ms as RFC 3339 UTC with milliseconds,
// the stream entry's first_attempt (Redis's Lua has no date functions; this is the civil-from-days
// algorithm of H. Hinnant). TestRFC3339Lua holds it to Go's time package.
const rfc3339Lua = `
local function rfc3339(ms)
  local s = math.floor(ms / 1000)
  local frac = ms - s * 1000
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rem / 3600), math.floor(rem / 60) % 60, rem % 60, frac)
end
`
