package markup

import (
	"html"
	"net/url"

	"github.com/yuin/goldmark/ast"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/renderer"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// linkRel is the rel of every link in chat.
const linkRel = "nofollow noopener noreferrer ugc"

// newHTMLRenderer builds the goldmark renderer of the chat dialect. It is
// not goldmark's HTML renderer: it knows only the node kinds of the dialect
// and writes only allow-listed markup. A node kind it does not know writes no
// markup of its own; its children (text) are still rendered.
func newHTMLRenderer() renderer.Renderer {
	return renderer.NewRenderer(renderer.WithNodeRenderers(
		util.Prioritized(&nodeRenderer{w: gmhtml.NewWriter()}, 0),
	))
}

// nodeRenderer writes the HTML of the chat dialect. It holds no per-call
// state, so one value serves concurrent Render calls.
type nodeRenderer struct {
	w gmhtml.Writer // escapes text, resolves entities and backslash escapes
}

// RegisterFuncs implements renderer.NodeRenderer.
func (r *nodeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindDocument, r.renderChildren)
	reg.Register(ast.KindParagraph, r.renderParagraph)
	reg.Register(kindGreentext, r.renderGreentext)
	reg.Register(ast.KindFencedCodeBlock, r.renderFencedCode)
	reg.Register(ast.KindText, r.renderText)
	reg.Register(ast.KindString, r.renderString)
	reg.Register(ast.KindCodeSpan, r.renderCodeSpan)
	reg.Register(ast.KindEmphasis, r.renderEmphasis)
	reg.Register(extast.KindStrikethrough, r.renderStrikethrough)
	reg.Register(ast.KindLink, r.renderLink)
	reg.Register(ast.KindAutoLink, r.renderAutoLink)
	// Images never load: only the description (alt text) is shown.
	reg.Register(ast.KindImage, r.renderChildren)
	reg.Register(kindEmote, r.renderEmote)
	reg.Register(kindMention, r.renderMention)
	// The parser has no raw HTML parser; should such a node ever appear,
	// it is shown as text.
	reg.Register(ast.KindRawHTML, r.renderRawHTML)
}

// renderChildren writes no markup for the node itself.
func (r *nodeRenderer) renderChildren(util.BufWriter, []byte, ast.Node, bool) (ast.WalkStatus, error) {
	return ast.WalkContinue, nil
}

// separate writes the line break between two top-level blocks: one <br>
// between adjacent lines, two where the message had a blank line. Fenced
// code is a block of its own (<pre>) and needs none.
func separate(w util.BufWriter, n ast.Node) {
	prev := n.PreviousSibling()
	if prev == nil || prev.Kind() == ast.KindFencedCodeBlock || n.Kind() == ast.KindFencedCodeBlock {
		return
	}
	_, _ = w.WriteString("<br>")
	if n.HasBlankPreviousLines() {
		_, _ = w.WriteString("<br>")
	}
}

func (r *nodeRenderer) renderParagraph(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		separate(w, n)
	}
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderGreentext(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		separate(w, n)
		_, _ = w.WriteString(`<span class="greentext">`)
	} else {
		_, _ = w.WriteString("</span>")
	}
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderFencedCode(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		_, _ = w.WriteString("</code></pre>")
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString("<pre><code>")
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		r.w.RawWrite(w, seg.Value(source))
	}
	return ast.WalkSkipChildren, nil
}

func (r *nodeRenderer) renderText(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Text)
	if n.IsRaw() {
		r.w.RawWrite(w, n.Segment.Value(source))
	} else {
		r.w.Write(w, n.Segment.Value(source))
	}
	if n.HardLineBreak() || n.SoftLineBreak() {
		_, _ = w.WriteString("<br>")
	}
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderString(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.String)
	if n.IsRaw() || n.IsCode() {
		r.w.RawWrite(w, n.Value)
	} else {
		r.w.Write(w, n.Value)
	}
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderCodeSpan(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		_, _ = w.WriteString("</code>")
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString("<code>")
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		var v []byte
		switch t := c.(type) {
		case *ast.Text:
			v = t.Segment.Value(source)
		case *ast.String:
			v = t.Value
		default:
			continue
		}
		if l := len(v); l > 0 && v[l-1] == '\n' {
			r.w.RawWrite(w, v[:l-1])
			_ = w.WriteByte(' ')
		} else {
			r.w.RawWrite(w, v)
		}
	}
	return ast.WalkSkipChildren, nil
}

func (r *nodeRenderer) renderEmphasis(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	tag := "em"
	if node.(*ast.Emphasis).Level >= 2 {
		tag = "strong"
	}
	if entering {
		_, _ = w.WriteString("<" + tag + ">")
	} else {
		_, _ = w.WriteString("</" + tag + ">")
	}
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderStrikethrough(w util.BufWriter, _ []byte, _ ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString("<del>")
	} else {
		_, _ = w.WriteString("</del>")
	}
	return ast.WalkContinue, nil
}

// openLink writes an <a> for href, which safeHref has accepted.
func openLink(w util.BufWriter, href string) {
	_, _ = w.WriteString(`<a href="`)
	_, _ = w.WriteString(html.EscapeString(href))
	_, _ = w.WriteString(`" rel="` + linkRel + `" target="_blank">`)
}

// renderLink writes [text](url) as a link when url is http or https and the
// link is not inside another link; otherwise only its text.
func (r *nodeRenderer) renderLink(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Link)
	href, ok := safeHref(util.URLEscape(n.Destination, true))
	if !ok || inLink(n) {
		return ast.WalkContinue, nil
	}
	if entering {
		openLink(w, href)
	} else {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

// renderAutoLink writes a bare URL or <URL> as a link when it is http or
// https; otherwise (e-mail addresses, other schemes) it is text as typed.
func (r *nodeRenderer) renderAutoLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.AutoLink)
	label := n.Label(source)
	href, ok := "", false
	if n.AutoLinkType == ast.AutoLinkURL {
		href, ok = safeHref(util.URLEscape(n.URL(source), false))
	}
	if !ok || inLink(n) {
		// Show what was typed, with the angle brackets of <...> if any.
		bracketed := bracketedAutoLink(source, n)
		if bracketed {
			_, _ = w.WriteString("&lt;")
		}
		r.w.RawWrite(w, label)
		if bracketed {
			_, _ = w.WriteString("&gt;")
		}
		return ast.WalkSkipChildren, nil
	}
	openLink(w, href)
	r.w.RawWrite(w, label)
	_, _ = w.WriteString("</a>")
	return ast.WalkSkipChildren, nil
}

// bracketedAutoLink reports whether the autolink n was typed as <...>: the
// parser records the position of the '<' that triggered it.
func bracketedAutoLink(source []byte, n *ast.AutoLink) bool {
	p := n.Pos()
	end := p + 1 + len(n.Label(source))
	return p >= 0 && end < len(source) && source[p] == '<' && source[end] == '>'
}

func (r *nodeRenderer) renderEmote(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*emote)
	code := ":" + n.name + ":"
	if !localSrc(n.src) {
		_, _ = w.WriteString(html.EscapeString(code))
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString(`<img class="emote" src="`)
	_, _ = w.WriteString(html.EscapeString(n.src))
	_, _ = w.WriteString(`" alt="` + code + `" title="` + code + `">`)
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderMention(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*mention)
	if inLink(n) {
		_, _ = w.WriteString(html.EscapeString(n.typed))
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString(`<span class="mention" data-handle="`)
	_, _ = w.WriteString(html.EscapeString(n.handle))
	_, _ = w.WriteString(`">`)
	_, _ = w.WriteString(html.EscapeString(n.typed))
	_, _ = w.WriteString(`</span>`)
	return ast.WalkContinue, nil
}

func (r *nodeRenderer) renderRawHTML(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		segs := node.(*ast.RawHTML).Segments
		for i := 0; i < segs.Len(); i++ {
			seg := segs.At(i)
			r.w.RawWrite(w, seg.Value(source))
		}
	}
	return ast.WalkSkipChildren, nil
}

// safeHref accepts an absolute http or https URL with a host and no
// whitespace or control characters, and returns it as it will be written.
func safeHref(b []byte) (string, bool) {
	for _, c := range b {
		if c <= ' ' || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	s := string(b)
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "", false
	}
	if u.Scheme != "http" && u.Scheme != "https" { // url.Parse lower-cases it
		return "", false
	}
	return s, true
}
