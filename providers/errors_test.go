package providers_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

func TestSnippet(t *testing.T) {
	max := providers.MaxSnippetBytes
	mark := providers.CutMark
	// "日" is 3 bytes: after one ASCII byte, a cut at any byte count lands inside one every third time.
	cjk := "x" + strings.Repeat("日", max)
	cjkKept := (max - len(mark) - 1) / 3
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"only blanks and controls", " \r\n\t\x00\x1b ", ""},
		{"one line", "Bad Gateway", "Bad Gateway"},
		{"runs of blanks become one space", "<html>\n  <body>502\tBad   Gateway</body>\n</html>\n",
			"<html> <body>502 Bad Gateway</body> </html>"},
		{"invalid UTF-8 and U+FFFD are gaps", "a\xff\xfeb\uFFFDc", "a b c"},
		{"exactly the cap is kept", strings.Repeat("a", max), strings.Repeat("a", max)},
		{"longer is cut with the mark", strings.Repeat("a", max+1), strings.Repeat("a", max-len(mark)) + mark},
		{"a cut never splits a character", cjk, "x" + strings.Repeat("日", cjkKept) + mark},
		{"blanks do not count against the cap", strings.Repeat(" ", 10*max) + "end", "end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := providers.Snippet(c.in)
			assert.Equal(t, c.want, got)
			assert.True(t, utf8.ValidString(got), "%q", got)
			assert.LessOrEqual(t, len(got), max)
		})
	}
}

func TestSnippetOfHugeBody(t *testing.T) {
	body := strings.Repeat("é ", providers.MaxBodyBytes/3) // 2-byte characters
	got := providers.Snippet(body)
	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasSuffix(got, providers.CutMark))
	assert.LessOrEqual(t, len(got), providers.MaxSnippetBytes)
}

func TestInvalidTargetAndCheckProvider(t *testing.T) {
	cases := []struct {
		name    string
		t       providers.Target
		problem string // "" when the target is the client's
	}{
		{"own provider", providers.Target{Provider: providers.SMH}, ""},
		{"another provider", providers.Target{Provider: providers.VOD}, `is "vod", want smh`},
		{"no provider", providers.Target{}, "is empty, want smh"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := providers.CheckProvider(c.t, providers.SMH)
			if c.problem == "" {
				assert.NoError(t, err)
				return
			}
			var fe *providers.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "provider", fe.Field)
			assert.Equal(t, c.problem, fe.Problem)

			pe := providers.InvalidTarget(providers.SMH, err)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "InvalidTarget", pe.Code)
			assert.Zero(t, pe.HTTPStatus)
			assert.True(t, errors.As(pe, &fe), "the FieldError stays reachable")
			assert.Equal(t, "smh: InvalidTarget: field provider: "+c.problem+" [fatal]", pe.Error())
		})
	}
}
