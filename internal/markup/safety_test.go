package markup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// testEmotes is the emote set of the tests. Only kappa and pog are local;
// the others try to make the renderer load from elsewhere or run script.
type testEmotes map[string]string

func (e testEmotes) EmoteURL(name string) (string, bool) {
	src, ok := e[name]
	return src, ok
}

func newTestRenderer() *Renderer {
	return New(testEmotes{
		"kappa":  "/emotes/kappa.png",
		"pog":    "/emotes/pog.webp?v=2",
		"remote": "https://cdn.example/emote.png",
		"proto":  "//evil.example/x.png",
		"back":   `/\evil.example/x.png`,
		"tabbed": "/\t/evil.example/x.png",
		"evil":   "javascript:alert(1)",
		"quote":  `/x.png" onerror="alert(1)`,
		"empty":  "",
	})
}

// Allow-list of the output, as the tests see it (independent of policy.go).
var (
	reHandle   = regexp.MustCompile(`\A[A-Za-z0-9_-]{2,24}#[0-9]{4}(@[a-z0-9.-]+(:[0-9]{1,5})?)?\z`)
	reEmoteAlt = regexp.MustCompile(`\A:[A-Za-z0-9_]{1,32}:\z`)
)

// voidElements are the allowed elements without an end tag.
var voidElements = map[string]bool{"br": true, "img": true}

// allowedAttrs lists, per allowed element, the attributes it may carry.
var allowedAttrs = map[string]map[string]bool{
	"a":      {"href": true, "rel": true, "target": true},
	"em":     {},
	"strong": {},
	"code":   {},
	"pre":    {},
	"del":    {},
	"s":      {},
	"br":     {},
	"span":   {"class": true, "data-handle": true},
	"img":    {"class": true, "src": true, "alt": true, "title": true},
}

// assertSafe fails t when output, the rendering of input, is not within the
// allow-list.
func assertSafe(t testing.TB, input, output string) {
	t.Helper()
	if problems := checkSafe(output); len(problems) > 0 {
		t.Errorf("unsafe output\ninput:    %q\noutput:   %q\nproblems: %s", input, output, strings.Join(problems, "; "))
	}
}

// checkSafe parses output with the x/net/html tokenizer and returns every
// way it breaks the allow-list: elements, attributes (decoded values),
// URL schemes, image sources, nesting, comments and stray '<'.
func checkSafe(output string) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	if strings.Contains(strings.ToLower(output), "<script") {
		bad("contains <script")
	}
	z := html.NewTokenizer(strings.NewReader(output))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if !errors.Is(z.Err(), io.EOF) {
				bad("tokenizer: %v", z.Err())
			}
			if len(stack) > 0 {
				bad("unclosed elements %v", stack)
			}
			return problems
		case html.TextToken:
			if strings.ContainsRune(string(z.Raw()), '<') {
				bad("raw '<' in text %q", z.Raw())
			}
		case html.CommentToken:
			bad("comment %q", z.Raw())
		case html.DoctypeToken:
			bad("doctype %q", z.Raw())
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			name := tok.Data
			allowed, ok := allowedAttrs[name]
			if !ok {
				bad("element <%s> not allowed", name)
			}
			checkAttrs(name, tok.Attr, allowed, bad)
			if tt == html.SelfClosingTagToken && !voidElements[name] {
				bad("self-closing <%s/>", name)
			}
			if !voidElements[name] && tt == html.StartTagToken {
				stack = append(stack, name)
			}
		case html.EndTagToken:
			tok := z.Token()
			if voidElements[tok.Data] {
				bad("end tag of void element </%s>", tok.Data)
				continue
			}
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				bad("unbalanced </%s> (open: %v)", tok.Data, stack)
				continue
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// checkAttrs applies the per-element attribute rules to attrs (whose values
// the tokenizer has already entity-decoded).
func checkAttrs(elem string, attrs []html.Attribute, allowed map[string]bool, bad func(string, ...any)) {
	seen := map[string]string{}
	for _, a := range attrs {
		key := strings.ToLower(a.Key)
		if _, dup := seen[key]; dup {
			bad("duplicate attribute %s on <%s>", key, elem)
		}
		seen[key] = a.Val
		if a.Namespace != "" {
			bad("namespaced attribute %s:%s", a.Namespace, a.Key)
		}
		if strings.HasPrefix(key, "on") {
			bad("event handler %s=%q on <%s>", key, a.Val, elem)
		}
		if key == "style" {
			bad("style attribute on <%s>", elem)
		}
		if !allowed[key] {
			bad("attribute %s on <%s> not allowed", key, elem)
		}
		folded := foldURL(a.Val)
		for _, scheme := range []string{"javascript:", "vbscript:", "livescript:"} {
			if strings.Contains(folded, scheme) {
				bad("%s in %s=%q", scheme, key, a.Val)
			}
		}
		if strings.HasPrefix(folded, "data:") {
			bad("data: URL in %s=%q", key, a.Val)
		}
	}
	switch elem {
	case "a":
		href, ok := seen["href"]
		if !ok {
			bad("<a> without href")
		} else if !httpURL(href) {
			bad("href %q is not an absolute http(s) URL", href)
		}
		if rel := strings.Fields(seen["rel"]); !hasAll(rel, "nofollow", "noopener", "noreferrer", "ugc") {
			bad("rel %q lacks one of nofollow noopener noreferrer ugc", seen["rel"])
		}
		if seen["target"] != "_blank" {
			bad("target %q is not _blank", seen["target"])
		}
	case "img":
		if src, ok := seen["src"]; !ok || !localURL(src) {
			bad("img src %q is not local", src)
		}
		if seen["class"] != "emote" {
			bad("img class %q is not emote", seen["class"])
		}
		for _, k := range []string{"alt", "title"} {
			if v, ok := seen[k]; ok && !reEmoteAlt.MatchString(v) {
				bad("img %s %q", k, v)
			}
		}
	case "span":
		switch seen["class"] {
		case "greentext":
			if _, ok := seen["data-handle"]; ok {
				bad("greentext with data-handle")
			}
		case "mention":
			if !reHandle.MatchString(seen["data-handle"]) {
				bad("mention data-handle %q", seen["data-handle"])
			}
		default:
			bad("span class %q", seen["class"])
		}
	}
}

// foldURL lower-cases v and drops what browsers drop when they read a URL
// (ASCII whitespace and control characters), so "Java\tScript:" is caught.
func foldURL(v string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(v) {
		if r <= ' ' || r == 0x7f {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// httpURL reports whether v is an absolute http or https URL with nothing a
// browser would strip or reinterpret.
func httpURL(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] == 0x7f || v[i] == '\\' {
			return false
		}
	}
	l := strings.ToLower(v)
	for _, p := range []string{"http://", "https://"} {
		if strings.HasPrefix(l, p) && len(l) > len(p) && l[len(p)] != '/' {
			return true
		}
	}
	return false
}

// localURL reports whether v is a path on this site: one leading '/', not
// "//" or "/\", and nothing a browser would strip.
func localURL(v string) bool {
	if len(v) < 2 || v[0] != '/' || v[1] == '/' || v[1] == '\\' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] == 0x7f || v[i] == '\\' {
			return false
		}
	}
	return true
}

func hasAll(have []string, want ...string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// assertEscaped fails t unless out is input, HTML-escaped, with no markup.
func assertEscaped(t testing.TB, input, out string) {
	t.Helper()
	if strings.ContainsAny(out, `<>"'`) {
		t.Errorf("Escape(%q) = %q: contains a raw markup character", input, out)
	}
	want := strings.ReplaceAll(strings.ToValidUTF8(input, "\uFFFD"), "\x00", "\uFFFD")
	if got := html.UnescapeString(out); got != want {
		t.Errorf("Escape(%q) = %q, which unescapes to %q", input, out, got)
	}
}

// assertMentionsAgree fails t unless the handles Render highlighted are
// exactly the ones Mentions reports.
func assertMentionsAgree(t testing.TB, input, output string) {
	t.Helper()
	got := Mentions(input)
	seen := map[string]bool{}
	for _, h := range got {
		if seen[h] {
			t.Errorf("Mentions(%q) repeats %q", input, h)
		}
		seen[h] = true
		if !reHandle.MatchString(h) {
			t.Errorf("Mentions(%q) returned malformed %q", input, h)
		}
	}
	rendered := map[string]bool{}
	for _, h := range dataHandles(output) {
		rendered[h] = true
		if !seen[h] {
			t.Errorf("input %q: Render highlighted %q, Mentions %q did not report it", input, h, got)
		}
	}
	for h := range seen {
		if !rendered[h] {
			t.Errorf("input %q: Mentions reported %q, Render (%q) did not highlight it", input, h, output)
		}
	}
}

// dataHandles returns the data-handle of every mention span in output.
func dataHandles(output string) []string {
	var out []string
	z := html.NewTokenizer(strings.NewReader(output))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		if tt != html.StartTagToken {
			continue
		}
		for _, a := range z.Token().Attr {
			if a.Key == "data-handle" {
				out = append(out, a.Val)
			}
		}
	}
}

// TestCheckSafeCatches makes sure the checker itself fails on unsafe markup,
// so that the corpus tests below can fail.
func TestCheckSafeCatches(t *testing.T) {
	unsafe := []string{
		`<script>alert(1)</script>`,
		`<SCRIPT SRC=x></SCRIPT>`,
		`<img src="x" onerror="alert(1)">`,
		`<img class="emote" src="https://evil.example/a.png" alt=":a:">`,
		`<img class="emote" src="//evil.example/a.png" alt=":a:">`,
		`<img class="emote" src="/\evil.example/a.png" alt=":a:">`,
		`<img class="emote" src="/&#9;/evil.example/a.png" alt=":a:">`,
		`<img src="/a.png">`,
		`<a href="javascript:alert(1)" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<a href="java&#x09;script:alert(1)" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<a href="&#x6A;avascript:alert(1)" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<a href=" JaVaScRiPt:alert(1)" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<a href="data:text/html,x" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<a href="/local" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<a href="https://example.com" rel="nofollow" target="_blank">x</a>`,
		`<a href="https://example.com" rel="nofollow noopener noreferrer ugc">x</a>`,
		`<a href="https://example.com" rel="nofollow noopener noreferrer ugc" target="_blank" onclick="x()">x</a>`,
		`<a rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<span style="color:red">x</span>`,
		`<span class="evil">x</span>`,
		`<span class="mention" data-handle="x">x</span>`,
		`<div>x</div>`,
		`<iframe src="/x"></iframe>`,
		`<svg onload=alert(1)>`,
		`<em>unclosed`,
		`<em><strong>x</em></strong>`,
		`</em>`,
		`<!-- comment -->`,
		`x < y`,
		`<em/>`,
	}
	for _, out := range unsafe {
		if len(checkSafe(out)) == 0 {
			t.Errorf("checkSafe accepted %q", out)
		}
	}
	safe := []string{
		``,
		`plain &amp; &lt;text&gt; &#34;q&#34;`,
		`<em>a</em><strong>b</strong><code>c</code><pre><code>d</code></pre><del>e</del><br>`,
		`<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer ugc" target="_blank">x</a>`,
		`<span class="greentext">&gt;x</span><span class="mention" data-handle="bob#1234@example.com">@bob#1234@example.com</span>`,
		`<img class="emote" src="/emotes/kappa.png" alt=":kappa:" title=":kappa:">`,
	}
	for _, out := range safe {
		if p := checkSafe(out); len(p) > 0 {
			t.Errorf("checkSafe rejected %q: %v", out, p)
		}
	}
}

// loadVectors reads testdata/xss_vectors.txt: one vector per line, '#'
// comments. Each vector is returned as written and, when it differs, with
// \t \n \r \0 turned into the characters they name.
func loadVectors(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/xss_vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unescape := strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\r`, "\r", `\0`, "\x00")
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "# ") || line == "#" {
			continue
		}
		out = append(out, line)
		if u := unescape.Replace(line); u != line {
			out = append(out, u)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// contexts puts a vector where Markdown treats it differently.
func contexts(v string) []string {
	return []string{
		v,
		"> " + v,
		"**" + v + "**",
		"[x](" + v + ")",
		"[" + v + "](https://example.com)",
		"hi :kappa: @bob#1234 " + v + " https://example.com/ok",
		"`" + v + "`",
		"```\n" + v + "\n```",
		v + "\n" + v,
	}
}

func TestXSSVectors(t *testing.T) {
	r := newTestRenderer()
	vectors := loadVectors(t)
	if len(vectors) < 80 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		for _, in := range contexts(v) {
			out := r.render(in)
			assertSafe(t, in, out)
			assertMentionsAgree(t, in, out)
			e := Escape(in)
			assertSafe(t, in, e)
			assertEscaped(t, in, e)
		}
	}
}

func TestBigListOfNaughtyStrings(t *testing.T) {
	data, err := os.ReadFile("testdata/blns.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) < 400 {
		t.Fatalf("blns.json has only %d strings", len(list))
	}
	r := newTestRenderer()
	for _, s := range list {
		for _, in := range []string{s, "> " + s, "[" + s + "](" + s + ")"} {
			out := r.render(in)
			assertSafe(t, in, out)
			assertMentionsAgree(t, in, out)
			e := Escape(in)
			assertSafe(t, in, e)
			assertEscaped(t, in, e)
		}
	}
}

// TestPathological feeds long, deeply nested or repetitive inputs up to the
// Markdown limit: they must still render safely and not crash.
func TestPathological(t *testing.T) {
	r := newTestRenderer()
	units := []string{
		"[", "[a](", "![", "](x)", "[x](<", "*a", "*a_", "**_~~", "`", "` ",
		">", ">a\n", ":kappa:", "@bob#1234", "@bob#1234@", "<", "<a ",
		"https://x.co/", "```\n", "&#", "\\", "a\n", "*", "    a\n",
	}
	for _, u := range units {
		in := strings.Repeat(u, maxMarkdown/len(u))
		start := time.Now()
		out := r.render(in)
		assertSafe(t, in[:min(len(in), 40)]+"...", out)
		t.Logf("%6d bytes of %q: %v", len(in), u, time.Since(start))
	}
}

// TestOverLimit checks that text beyond the Markdown limit is shown as
// plain escaped text with line breaks.
func TestOverLimit(t *testing.T) {
	r := newTestRenderer()
	in := strings.Repeat("*a* <b>\n", maxMarkdown/8+1)
	out := r.Render(in)
	want := strings.TrimSuffix(strings.Repeat("*a* &lt;b&gt;<br>", maxMarkdown/8+1), "<br>")
	if out != want {
		t.Errorf("Render of %d bytes = %q...", len(in), out[:min(len(out), 80)])
	}
	assertSafe(t, in, out)
	if m := Mentions(strings.Repeat("@bob#1234 ", maxMarkdown/10+1)); m != nil {
		t.Errorf("Mentions over the limit = %q", m)
	}
}

// FuzzRender checks that no input makes Render produce markup outside the
// allow-list, makes Escape produce markup, makes Mentions disagree with
// Render, or panics (render is called without Render's recover).
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"hello *world* **strong** `code` ~~del~~",
		"> green https://example.com\n>two :kappa: @bob#1234",
		"[x](javascript:alert(1)) ![a](http://x/y.png) <b>x</b>",
		"<img src=x onerror=alert(1)>",
		"[x](java&#x09;script:alert(1))",
		"```\n<script>alert(1)</script>\n```",
		"@bob#1234@example.com. :pog: :proto: :back:",
		"<javascript:alert(1)> www.example.com a@example.com",
	} {
		f.Add(s)
	}
	r := newTestRenderer()
	f.Fuzz(func(t *testing.T, in string) {
		out := r.render(in)
		assertSafe(t, in, out)
		assertMentionsAgree(t, in, out)
		if got := r.Render(in); got != out {
			t.Errorf("Render and render differ for %q", in)
		}
		e := Escape(in)
		assertSafe(t, in, e)
		assertEscaped(t, in, e)
		assertNoTextLost(t, in, out)
	})
}

// plainInput matches input with no Markdown, HTML, emote or mention syntax.
var plainInput = regexp.MustCompile(`\A[A-Za-z0-9 \t\r\n]*\z`)

// assertNoTextLost fails t when input is plain words and output does not
// show every one of them, in order.
func assertNoTextLost(t testing.TB, input, output string) {
	t.Helper()
	if !plainInput.MatchString(input) {
		return
	}
	var text strings.Builder
	z := html.NewTokenizer(strings.NewReader(output))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		switch tt {
		case html.TextToken:
			text.WriteString(html.UnescapeString(string(z.Text())))
		default:
			text.WriteByte(' ')
		}
	}
	got, want := strings.Fields(text.String()), strings.Fields(input)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("input %q: output %q shows %q", input, output, got)
	}
}
