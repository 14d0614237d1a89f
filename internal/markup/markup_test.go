package markup

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
)

// link is the markup of a chat link to href showing text.
func link(href, text string) string {
	return `<a href="` + href + `" rel="nofollow noopener noreferrer ugc" target="_blank">` + text + `</a>`
}

const kappa = `<img class="emote" src="/emotes/kappa.png" alt=":kappa:" title=":kappa:">`

func mentionSpan(handle, typed string) string {
	return `<span class="mention" data-handle="` + handle + `">` + typed + `</span>`
}

func green(s string) string { return `<span class="greentext">` + s + `</span>` }

func TestRender(t *testing.T) {
	long := strings.Repeat("a", 33)
	tests := []struct {
		name, in, want string
	}{
		// text
		{"plain", "hello world", "hello world"},
		{"empty", "", ""},
		{"blank", "  \n\t \n", ""},
		{"trimmed", "  hi  ", "hi"},
		{"quotes", `say "hi" it's`, "say &#34;hi&#34; it&#39;s"},
		{"entities", "&amp; &lt;b&gt; &copy;", "&amp; &lt;b&gt; ©"},
		{"backslash escapes", `\*not\* \_em\_`, "*not* _em_"},
		{"nul", "a\x00b", "a\uFFFDb"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"unicode", "héllo 世界 🎉", "héllo 世界 🎉"},

		// emphasis, strong, code, strikethrough
		{"em star", "*hi*", "<em>hi</em>"},
		{"em underscore", "_hi_", "<em>hi</em>"},
		{"strong", "**hi**", "<strong>hi</strong>"},
		{"strong underscore", "__hi__", "<strong>hi</strong>"},
		{"strong em", "***hi***", "<em><strong>hi</strong></em>"},
		{"nested", "**a *b* c**", "<strong>a <em>b</em> c</strong>"},
		{"intraword underscore", "snake_case_name", "snake_case_name"},
		{"unmatched star", "2 * 3 = 6", "2 * 3 = 6"},
		{"code", "`a <b> *c* ~~d~~`", "<code>a &lt;b&gt; *c* ~~d~~</code>"},
		{"code double backtick", "``a ` b``", "<code>a ` b</code>"},
		{"strike", "~~gone~~", "<del>gone</del>"},
		{"strike with em", "~~*x*~~", "<del><em>x</em></del>"},

		// fenced code
		{"fenced", "```\nx := 1 < 2\n```", "<pre><code>x := 1 &lt; 2\n</code></pre>"},
		{"fenced language ignored", "```go\nfmt.Println()\n```", "<pre><code>fmt.Println()\n</code></pre>"},
		{"fenced html", "```\n<script>alert(1)</script>\n```", "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>"},
		{"fenced no markdown", "```\n*a* :kappa: @bob#1234 https://x.co\n```", "<pre><code>*a* :kappa: @bob#1234 https://x.co\n</code></pre>"},
		{"fenced then text", "```\na\n```\nb", "<pre><code>a\n</code></pre>b"},
		{"text then fenced", "a\n```\nb\n```", "a<pre><code>b\n</code></pre>"},
		{"fenced unclosed", "```\na\nb", "<pre><code>a\nb\n</code></pre>"},
		{"tilde fence", "~~~\na\n~~~", "<pre><code>a\n</code></pre>"},

		// links
		{"bare url", "go https://example.com/a?b=1&c=2 now", "go " + link("https://example.com/a?b=1&amp;c=2", "https://example.com/a?b=1&amp;c=2") + " now"},
		{"bare http", "http://example.com", link("http://example.com", "http://example.com")},
		{"bare url trailing dot", "see https://example.com.", "see " + link("https://example.com", "https://example.com") + "."},
		{"bare url in parens", "(https://example.com)", "(" + link("https://example.com", "https://example.com") + ")"},
		{"www", "www.example.com", link("http://www.example.com", "www.example.com")},
		{"bare ftp not linked", "ftp://example.com/f", "ftp://example.com/f"},
		{"bare javascript not linked", "javascript:alert(1)", "javascript:alert(1)"},
		{"email not linked", "mail a@example.com", "mail a@example.com"},
		{"markdown link", "[docs](https://example.com/docs)", link("https://example.com/docs", "docs")},
		{"markdown link title dropped", `[docs](https://example.com "T")`, link("https://example.com", "docs")},
		{"link upper scheme", "[x](HTTPS://example.com)", link("https://example.com", "x")},
		{"link nested emphasis", "[*a* **b** `c`](https://example.com)", link("https://example.com", "<em>a</em> <strong>b</strong> <code>c</code>")},
		{"emphasis around link", "*see [x](https://e.com)*", "<em>see " + link("https://e.com", "x") + "</em>"},
		{"angle autolink", "<https://example.com>", link("https://example.com", "https://example.com")},
		{"link space encoded", "[x](<https://e.com/a b>)", link("https://e.com/a%20b", "x")},
		{"link quote encoded", `[x](https://e.com/"onmouseover="x)`, link("https://e.com/%22onmouseover=%22x", "x")},
		{"javascript link", "[x](javascript:alert(1))", "x"},
		{"javascript link mixed case", "[x](JaVaScRiPt:alert(1))", "x"},
		{"javascript link entity tab", "[x](java&#x09;script:alert(1))", "x"},
		{"javascript link entity", "[x](&#106;avascript:alert(1))", "x"},
		{"data link", "[x](data:text/html,hi)", "x"},
		{"ftp link", "[x](ftp://example.com/f)", "x"},
		{"relative link", "[x](/path)", "x"},
		{"protocol-relative link", "[x](//evil.example)", "x"},
		{"javascript autolink", "<javascript:alert(1)>", "&lt;javascript:alert(1)&gt;"},
		{"mailto autolink", "<mailto:a@example.com>", "&lt;mailto:a@example.com&gt;"},
		{"email autolink", "<a@example.com>", "&lt;a@example.com&gt;"},
		{"nested link", "[a [b](https://b.co) c](https://a.co)", "[a " + link("https://b.co", "b") + " c](" + link("https://a.co", "https://a.co") + ")"},
		{"autolink in link text", "[<https://b.co>](https://a.co)", link("https://a.co", "&lt;https://b.co&gt;")},
		{"reference link not resolved", "[x]\n\n[x]: https://e.com", "[x]<br><br>[x]: " + link("https://e.com", "https://e.com")},

		// no HTML, no images
		{"raw inline html", "<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"},
		{"raw html block", `<div onclick="x">hi</div>`, "&lt;div onclick=&#34;x&#34;&gt;hi&lt;/div&gt;"},
		{"script tag", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"html comment", "<!-- x -->", "&lt;!-- x --&gt;"},
		{"image", "![a cat](http://x/y.png)", "a cat"},
		{"image empty alt", "![](http://x/y.png)", ""},
		{"image local", "![a](/y.png)", "a"},
		{"image in link", "[![a](http://x/y.png)](https://e.com)", link("https://e.com", "a")},
		{"image alt emphasis", "![*a*](http://x/y.png)", "<em>a</em>"},

		// greentext
		{"greentext", ">be me", green("&gt;be me")},
		{"greentext space", "> be me", green("&gt; be me")},
		{"greentext alone", ">", green("&gt;")},
		{"greentext lines", ">a\n>b", green("&gt;a") + "<br>" + green("&gt;b")},
		{"greentext between text", "hi\n>a\nbye", "hi<br>" + green("&gt;a") + "<br>bye"},
		{"greentext double", ">>123", green("&gt;&gt;123")},
		{"greentext indented", "  >x", green("&gt;x")},
		{"greentext with link", ">see https://e.com", green("&gt;see " + link("https://e.com", "https://e.com"))},
		{"greentext with md link", "> [x](https://e.com) *y*", green("&gt; " + link("https://e.com", "x") + " <em>y</em>")},
		{"greentext emphasis per line", ">*a\n>b*", green("&gt;*a") + "<br>" + green("&gt;b*")},
		{"greentext emote mention", ">:kappa: @bob#1234", green("&gt;" + kappa + " " + mentionSpan("bob#1234", "@bob#1234"))},
		{"greentext html", "><b>x</b>", green("&gt;&lt;b&gt;x&lt;/b&gt;")},
		{"not greentext mid-line", "a > b", "a &gt; b"},
		{"greentext in fenced code", "```\n>x\n```", "<pre><code>&gt;x\n</code></pre>"},
		{"greentext entity is not", "&gt;x", "&gt;x"},

		// line breaks
		{"soft break", "a\nb", "a<br>b"},
		{"blank line", "a\n\nb", "a<br><br>b"},
		{"many blank lines", "a\n\n\n\nb", "a<br><br>b"},
		{"crlf and cr", "a\r\nb\rc", "a<br>b<br>c"},
		{"hard break spaces", "a  \nb", "a<br>b"},
		{"hard break backslash", "a\\\nb", "a<br>b"},
		{"break in emphasis", "*a\nb*", "<em>a<br>b</em>"},

		// block syntax stays text
		{"heading", "# hi", "# hi"},
		{"heading closed", "## hi ##", "## hi ##"},
		{"list", "- a\n- b", "- a<br>- b"},
		{"star list", "* a", "* a"},
		{"ordered list", "1. a\n2. b", "1. a<br>2. b"},
		{"rule", "---", "---"},
		{"rule stars", "***", "***"},
		{"setext", "a\n===", "a<br>==="},
		{"table", "|a|b|\n|-|-|\n|1|2|", "|a|b|<br>|-|-|<br>|1|2|"},
		{"indented code", "    code", "code"},
		{"indented tab", "\tcode", "code"},
		{"indented after greentext", ">a\n     b", green("&gt;a") + "<br>b"},
		{"indented after fence", "```\na\n```\n    b", "<pre><code>a\n</code></pre>b"},

		// emotes
		{"emote", ":kappa:", kappa},
		{"emote query", ":pog:", `<img class="emote" src="/emotes/pog.webp?v=2" alt=":pog:" title=":pog:">`},
		{"emote in text", "gg:kappa:gg", "gg" + kappa + "gg"},
		{"emotes adjacent", ":kappa::kappa:", kappa + kappa},
		{"unknown emote", ":nope:", ":nope:"},
		{"emote in code", "`:kappa:`", "<code>:kappa:</code>"},
		{"emote in link", "[:kappa:](https://e.com)", link("https://e.com", kappa)},
		{"emote escaped", `\:kappa:`, ":kappa:"},
		{"emote remote refused", ":remote:", ":remote:"},
		{"emote protocol-relative refused", ":proto:", ":proto:"},
		{"emote backslash refused", ":back:", ":back:"},
		{"emote tab refused", ":tabbed:", ":tabbed:"},
		{"emote javascript refused", ":evil:", ":evil:"},
		{"emote quote refused", ":quote:", ":quote:"},
		{"emote empty refused", ":empty:", ":empty:"},
		{"emote name too long", ":" + long + ":", ":" + long + ":"},
		{"emote no name", "::", "::"},
		{"time is not emote", "12:30:45", "12:30:45"},

		// mentions
		{"mention", "hi @bob#1234", "hi " + mentionSpan("bob#1234", "@bob#1234")},
		{"mention remote", "@bob#1234@Example.org", mentionSpan("bob#1234@example.org", "@bob#1234@Example.org")},
		{"mention remote port", "@bob#1234@localhost:8080 hi", mentionSpan("bob#1234@localhost:8080", "@bob#1234@localhost:8080") + " hi"},
		{"mention sentence end", "@bob#1234@example.org.", mentionSpan("bob#1234@example.org", "@bob#1234@example.org") + "."},
		{"mention colon", "@bob#1234: hi", mentionSpan("bob#1234", "@bob#1234") + ": hi"},
		{"mention name chars", "@a_b-C9#0000", mentionSpan("a_b-C9#0000", "@a_b-C9#0000")},
		{"mention in parens", "(@bob#1234)", "(" + mentionSpan("bob#1234", "@bob#1234") + ")"},
		{"mention in strong", "**@bob#1234**", "<strong>" + mentionSpan("bob#1234", "@bob#1234") + "</strong>"},
		{"mention in code", "`@bob#1234`", "<code>@bob#1234</code>"},
		{"mention in link", "[@bob#1234](https://e.com)", link("https://e.com", "@bob#1234")},
		{"mention in url", "https://e.com/@bob#1234", link("https://e.com/@bob#1234", "https://e.com/@bob#1234")},
		{"mention five digits", "@bob#12345", "@bob#12345"},
		{"mention three digits", "@bob#123", "@bob#123"},
		{"mention digits then letters", "@bob#1234x", "@bob#1234x"},
		{"mention name too short", "@b#1234", "@b#1234"},
		{"mention name too long", "@" + strings.Repeat("n", 25) + "#1234", "@" + strings.Repeat("n", 25) + "#1234"},
		{"mention name longest", "@" + strings.Repeat("n", 24) + "#1234", mentionSpan(strings.Repeat("n", 24)+"#1234", "@"+strings.Repeat("n", 24)+"#1234")},
		{"mention after word", "x@bob#1234", "x@bob#1234"},
		{"mention bad host", "@bob#1234@-x", mentionSpan("bob#1234", "@bob#1234") + "@-x"},
	}
	r := newTestRenderer()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Render(tc.in)
			if got != tc.want {
				t.Errorf("Render(%q)\n got  %q\n want %q", tc.in, got, tc.want)
			}
			assertSafe(t, tc.in, got)
			assertMentionsAgree(t, tc.in, got)
		})
	}
}

// TestLinkRel checks the final rel and target of every kind of link.
func TestLinkRel(t *testing.T) {
	r := newTestRenderer()
	for _, in := range []string{
		"https://example.com",
		"www.example.com",
		"<https://example.com>",
		"[x](https://example.com)",
		"> [x](http://example.com) and https://example.org",
		"[:kappa:](https://example.com)",
	} {
		out := r.Render(in)
		z := html.NewTokenizer(strings.NewReader(out))
		links := 0
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			tok := z.Token()
			if tt != html.StartTagToken || tok.Data != "a" {
				continue
			}
			links++
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Key] = a.Val
			}
			rel := strings.Fields(attrs["rel"])
			if strings.Join(rel, " ") != "nofollow noopener noreferrer ugc" {
				t.Errorf("Render(%q): rel = %q, want exactly nofollow noopener noreferrer ugc", in, attrs["rel"])
			}
			if attrs["target"] != "_blank" {
				t.Errorf("Render(%q): target = %q", in, attrs["target"])
			}
		}
		if links == 0 {
			t.Errorf("Render(%q) = %q: no link", in, out)
		}
	}
}

func TestRenderNilEmotes(t *testing.T) {
	r := New(nil)
	if got, want := r.Render(":kappa: *x*"), ":kappa: <em>x</em>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMentions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"no mentions here", nil},
		{"hi @bob#1234", []string{"bob#1234"}},
		{"@bob#1234 @bob#1234 @amy#0001 @bob#1234", []string{"bob#1234", "amy#0001"}},
		{"@a_b-c#0000 and @x1#9999@Host.TLD", []string{"a_b-c#0000", "x1#9999@host.tld"}},
		{"@bob#1234@example.com:8080, hi", []string{"bob#1234@example.com:8080"}},
		{"@bob#1234@example.com. bye", []string{"bob#1234@example.com"}},
		{"@bob#1234 @bob#1234@example.com", []string{"bob#1234", "bob#1234@example.com"}},
		{"(@bob#1234)", []string{"bob#1234"}},
		{">@bob#1234 lol", []string{"bob#1234"}},
		{"*@bob#1234*", []string{"bob#1234"}},
		{"`@bob#1234`", nil},
		{"```\n@bob#1234\n```", nil},
		{"[@bob#1234](https://e.com)", nil},
		{"https://e.com/@bob#1234", nil},
		{"@bob#12345", nil},
		{"@bob#123", nil},
		{"@b#1234", nil},
		{"@" + strings.Repeat("n", 25) + "#1234", nil},
		{"mail@bob#1234", nil},
		{"@bob #1234", nil},
		{`\@bob#1234`, nil},
	}
	for _, tc := range tests {
		if got := Mentions(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Mentions(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{`<b>"x" & 'y'</b>`, "&lt;b&gt;&#34;x&#34; &amp; &#39;y&#39;&lt;/b&gt;"},
		{"*not markdown* :kappa: @bob#1234", "*not markdown* :kappa: @bob#1234"},
		{"a\x00b", "a\uFFFDb"},
		{"a\xffb", "a\uFFFDb"},
		{"line\nbreak", "line\nbreak"},
	}
	for _, tc := range tests {
		got := Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		assertEscaped(t, tc.in, got)
	}
}

// TestConcurrent renders from many goroutines at once; run with -race.
func TestConcurrent(t *testing.T) {
	r := newTestRenderer()
	want := r.Render(benchLine)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if got := r.Render(benchLine); got != want {
					t.Errorf("goroutine %d: got %q", g, got)
					return
				}
				_ = r.Render(fmt.Sprintf("> %d *x* @u%d#%04d", i, g, i))
				_ = Mentions(benchLine)
			}
		}()
	}
	wg.Wait()
}

// benchLine is a typical chat line: emphasis, a link, an emote, a mention.
const benchLine = "**gg** that was *so* close :kappa: @bob#1234 clip: https://example.com/clip?id=42"

func BenchmarkRender(b *testing.B) {
	r := newTestRenderer()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Render(benchLine)
	}
}

func BenchmarkMentions(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Mentions(benchLine)
	}
}
