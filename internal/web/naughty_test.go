package web_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
)

// naughty returns the Big List of Naughty Strings and the XSS vectors kept
// with the markup tests.
func naughty(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../markup/testdata/blns.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../markup/testdata/xss_vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			list = append(list, line)
		}
	}
	return list
}

// checkPage fails on anything in a page that could run script or load from
// elsewhere: scripts other than the site's own, on* attributes, javascript:
// or data: URLs, remote src.
func checkPage(t *testing.T, input, page string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		for _, a := range tok.Attr {
			key, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
			bad := strings.HasPrefix(key, "on") ||
				((key == "href" || key == "src" || key == "action") && (strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "data:") || strings.HasPrefix(val, "vbscript:"))) ||
				(key == "src" && (!strings.HasPrefix(val, "/") || strings.HasPrefix(val, "//"))) ||
				key == "style"
			if bad {
				t.Fatalf("input %q put <%s %s=%q> in the page", input, tok.Data, a.Key, a.Val)
			}
		}
		if tok.Data == "script" {
			src := ""
			for _, a := range tok.Attr {
				if a.Key == "src" {
					src = a.Val
				}
			}
			if !strings.HasPrefix(src, "/static/js/") {
				t.Fatalf("input %q put a script in the page", input)
			}
		}
		if tok.Data == "iframe" || tok.Data == "object" || tok.Data == "embed" || tok.Data == "base" {
			t.Fatalf("input %q put <%s> in the page", input, tok.Data)
		}
	}
}

// Every naughty string as a channel title and description, and as a chat
// message, comes out harmless on the pages and in the API; as a name it is
// refused (names are plain ASCII).
func TestNaughtyStringsEverywhere(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("kim", "password1", auth.RoleStreamer)
	tok := s.Login("kim", "password1")
	chat := s.Dial(tok)
	chat.Join("kim", nil)
	for i, input := range naughty(t) {
		if r := s.Do("POST", "/api/v1/register", map[string]string{"name": input, "password": "password1"}, ""); r.Status == 201 {
			if auth.CheckName(input) != nil {
				t.Fatalf("name %q registered", input)
			}
		} else if r.Status >= 500 {
			t.Fatalf("name %q: %d", input, r.Status)
		}

		title := input
		if utf8.RuneCountInString(title) > 140 {
			title = string([]rune(title)[:140])
		}
		r := s.Do("PATCH", "/api/v1/channels/kim", map[string]string{"title": title, "description": input}, tok)
		if r.Status >= 500 {
			t.Fatalf("title %q: %d", input, r.Status)
		}
		if i%10 == 0 || r.Status == 200 && strings.ContainsAny(input, "<>\"'&:") {
			for _, path := range []string{"/", "/c/kim", "/c/kim/chat"} {
				checkPage(t, input, string(s.Do("GET", path, nil, "").Raw))
			}
		}
		if strings.TrimSpace(input) == "" || utf8.RuneCountInString(input) > 500 {
			continue
		}
		chat.Send(map[string]any{"type": "send", "channel": "kim", "text": input, "nonce": i})
		f := chat.ExpectWhere(func(f map[string]any) bool {
			return (f["type"] == "message" && f["from"] != nil) || (f["type"] == "error" && f["nonce"] == float64(i))
		})
		if f["type"] == "message" {
			checkPage(t, input, f["html"].(string))
		}
	}
}
