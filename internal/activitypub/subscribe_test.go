package activitypub

import (
	"strings"
	"testing"
)

func TestParseHandle(t *testing.T) {
	for in, want := range map[string]string{
		"bob@mastodon.social":      "bob mastodon.social",
		"@Bob@Mastodon.Social":     "Bob mastodon.social",
		" acct:bob@example.org ":   "bob example.org",
		"bob.smith@127.0.0.1:8080": "bob.smith 127.0.0.1:8080",
		"bob_1-x@xn--bcher-kva.de": "bob_1-x xn--bcher-kva.de",
	} {
		user, host, err := ParseHandle(in)
		if err != nil || user+" "+host != want {
			t.Errorf("%q: %q %q %v, want %s", in, user, host, err, want)
		}
	}
	for _, in := range []string{
		"", "bob", "@bob", "bob@", "@example.org", "bob@example.org/path", "bob@user:pw@example.org",
		"bob@example.org?x", "bob@example.org#x", "b o b@example.org", "bob@exa mple.org", "<b>@example.org",
		"bob@.example.org", "bob@example.org:notaport", strings.Repeat("b", 65) + "@example.org",
		"bob@" + strings.Repeat("a", 300),
	} {
		if _, _, err := ParseHandle(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzParseHandle: whatever a visitor types, an accepted handle's host is
// one URL host with no path, user info, query or fragment.
func FuzzParseHandle(f *testing.F) {
	for _, s := range []string{"bob@example.org", "@bob@127.0.0.1:80", "acct:x@y", "a@b@c", "a@[::1]:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		user, host, err := ParseHandle(in)
		if err != nil {
			return
		}
		if user == "" || host == "" || strings.ContainsAny(host, "/?#@\\ ") || strings.ContainsAny(user, "@/:") {
			t.Fatalf("%q gave %q %q", in, user, host)
		}
	})
}
