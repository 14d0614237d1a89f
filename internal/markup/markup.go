// Package markup turns chat Markdown into safe HTML.
//
// It is the one place where user-typed text becomes markup. Chat messages are
// parsed with goldmark, restricted to a small inline dialect (emphasis,
// strong, code, fenced code, strikethrough, http(s) links, greentext,
// emotes and mentions), rendered by a renderer that only knows that dialect,
// and finally passed through a bluemonday allow-list. No raw HTML, no images
// other than the instance's own emotes, and no URL scheme other than http
// and https ever reach the output.
//
// The output allow-list is: a (href, rel, target), em, strong, code, pre,
// del, br, span (class greentext or mention, data-handle) and img (class
// emote, a local src, alt, title).
package markup

import (
	"bytes"
	"html"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
)

// Emotes looks up the instance's own emote set. src must be a path on this
// site (e.g. "/emotes/kappa.png"); anything else is refused and the emote
// stays text. Implementations must be safe for concurrent use because a
// Renderer may call EmoteURL from many goroutines at once.
type Emotes interface {
	// EmoteURL returns the local path of the image for the emote called
	// name, and whether such an emote exists.
	EmoteURL(name string) (src string, ok bool)
}

// Renderer turns chat Markdown into safe HTML. It is safe for concurrent
// use; build it once with New and reuse it.
type Renderer struct {
	parser   parser.Parser
	renderer renderer.Renderer
	policy   *bluemonday.Policy
}

// New returns a Renderer that expands :name: emotes found in emotes. emotes
// may be nil, in which case no emote is ever expanded.
func New(emotes Emotes) *Renderer {
	return &Renderer{
		parser:   newParser(emotes),
		renderer: newHTMLRenderer(),
		policy:   newPolicy(),
	}
}

// Render turns one chat message into a sanitised HTML fragment.
//
// The fragment has no <p>: each line break of the message is one <br> and a
// blank line between paragraphs is two. A line starting with '>' is
// greentext, <span class="greentext">&gt;...</span>, not a block quote.
// Fenced code becomes <pre><code> with no <br> around it. Links get
// rel="nofollow noopener noreferrer ugc" and target="_blank". Headings,
// lists, tables, rules, indented code and raw HTML are not recognised and
// show as the text that was typed; a Markdown image shows its description
// only.
//
// Render never panics; if the Markdown stage fails, the message is shown as
// escaped text. Text longer than 16 KiB (far beyond a chat message) is also
// shown as escaped text with <br> line breaks and no Markdown: some goldmark
// constructs take time quadratic in the length of the input.
func (r *Renderer) Render(text string) (out string) {
	defer func() {
		if recover() != nil {
			out = r.policy.Sanitize(plainHTML(text))
		}
	}()
	return r.render(text)
}

// maxMarkdown is the longest text, in bytes, that is parsed as Markdown.
const maxMarkdown = 16 << 10

// render is Render without the panic guard, so that tests and the fuzzer
// see any panic in the pipeline.
func (r *Renderer) render(s string) string {
	if len(s) > maxMarkdown {
		return r.policy.Sanitize(plainHTML(s))
	}
	src := normalize(s)
	if len(bytes.TrimSpace(src)) == 0 {
		return ""
	}
	doc := r.parser.Parse(newReader(src))
	var buf bytes.Buffer
	buf.Grow(len(src) + len(src)/2 + 64)
	if err := r.renderer.Render(&buf, src, doc); err != nil {
		return r.policy.Sanitize(plainHTML(s))
	}
	// The allow-list is always the last step, whatever the renderer did.
	return r.policy.Sanitize(buf.String())
}

// Mentions returns the distinct handles mentioned in text, in order of first
// appearance. A mention is "@name#1234" (name: 2 to 24 of A-Z a-z 0-9 _ -,
// exactly four digits) optionally followed by "@host" ("@name#1234@host.tld",
// returned as "name#1234@host.tld", with the host in lower case). Mentions
// inside code, fenced code and link text do not count, exactly as Render does
// not highlight them; nor do any in text too long to be parsed as Markdown
// (see Render).
func Mentions(text string) []string {
	if len(text) > maxMarkdown {
		return nil
	}
	src := normalize(text)
	// Cheap rejection first: most chat lines mention nobody, and those need
	// no Markdown parse.
	if !hasMentionCandidate(src) {
		return nil
	}
	doc := newMentionParser().Parse(newReader(src))
	var out []string
	seen := map[string]bool{}
	walkMentions(doc, func(handle string) {
		if !seen[handle] {
			seen[handle] = true
			out = append(out, handle)
		}
	})
	return out
}

// Escape turns plain text into HTML-escaped text, for names, titles and
// anything else that must show exactly as typed with no markup at all.
// Invalid UTF-8 and NUL bytes become U+FFFD.
func Escape(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return html.EscapeString(s)
}

// normalize prepares user text for the parser: valid UTF-8, no NUL bytes and
// "\n" as the only line ending.
func normalize(s string) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return []byte(s)
}

// plainHTML is the fallback rendering: escaped text with <br> line breaks.
func plainHTML(s string) string {
	s = strings.TrimSpace(string(normalize(s)))
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>")
}
