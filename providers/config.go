package providers

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// The checks every provider client's New runs on the fields its Config shares with the others. Their
// errors all name the field as "Config.<Field>"; New prefixes them with the provider ("smh: ").

// CheckEndpoint parses a configured base URL: an absolute http:// or https:// URL with a host, and no
// user info, query or fragment (a path prefix is allowed; a client that cannot use one checks that
// itself). http is accepted for any host: fakes, and proxies on a private network. The error never
// shows the URL, which may carry credentials in its user info or query.
func CheckEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// *url.Error quotes the whole URL, and its cause quotes pieces of it (`invalid port ":pw"
		// after host`): keep only the words.
		msg := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		msg = strings.Join(strings.Fields(quoted.ReplaceAllString(msg, "")), " ")
		return nil, fmt.Errorf("Config.Endpoint is not a URL: %s", Redact(msg, raw))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("Config.Endpoint must start with https:// or http://")
	case u.Host == "":
		return nil, errors.New("Config.Endpoint has no host")
	case u.User != nil:
		return nil, errors.New("Config.Endpoint must not contain user info")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return nil, errors.New("Config.Endpoint must not contain a query or fragment")
	}
	return u, nil
}

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// CheckSecret checks a credential field: no blanks or control characters, which would be a copy and
// paste mistake that fails every request. The error names the field, never the value.
func CheckSecret(field, v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("Config.%s contains blanks or control characters", field)
	}
	return nil
}

// CheckCodes validates a Codes override (code or "Prefix*" -> class, Config.Codes of every client):
// each class must be one of Classes. Every bad entry is reported, in code order.
func CheckCodes(m map[string]Class) error {
	codes := make([]string, 0, len(m))
	for code := range m {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	var errs []error
	for _, code := range codes {
		if _, err := ParseClass(string(m[code])); err != nil {
			errs = append(errs, fmt.Errorf("Config.Codes[%q]: %w", code, err))
		}
	}
	return errors.Join(errs...)
}
