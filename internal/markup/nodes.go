package markup

import (
	"github.com/yuin/goldmark/ast"
)

// Node kinds of the chat dialect. goldmark hands out kinds from a registry
// of its own; these are assigned once when the package loads and never
// change afterwards.
var (
	kindGreentext = ast.NewNodeKind("FedWaveGreentext")
	kindEmote     = ast.NewNodeKind("FedWaveEmote")
	kindMention   = ast.NewNodeKind("FedWaveMention")
)

// greentext is one line that starts with '>'. Its inline content includes
// the '>' itself.
type greentext struct {
	ast.BaseBlock
}

// Kind implements ast.Node.
func (n *greentext) Kind() ast.NodeKind { return kindGreentext }

// Dump implements ast.Node.
func (n *greentext) Dump(source []byte, level int) { ast.DumpHelper(n, source, level, nil, nil) }

// emote is a :name: found in the instance's emote set.
type emote struct {
	ast.BaseInline
	name string // without the colons
	src  string // a local path, checked by localSrc
}

// Kind implements ast.Node.
func (n *emote) Kind() ast.NodeKind { return kindEmote }

// Dump implements ast.Node.
func (n *emote) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"name": n.name, "src": n.src}, nil)
}

// mention is @name#1234 or @name#1234@host.
type mention struct {
	ast.BaseInline
	handle string // name#1234 or name#1234@host, host in lower case
	typed  string // the text as typed, including the leading '@'
}

// Kind implements ast.Node.
func (n *mention) Kind() ast.NodeKind { return kindMention }

// Dump implements ast.Node.
func (n *mention) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"handle": n.handle}, nil)
}

// inLink reports whether n sits inside a link (or an autolink), where
// mentions are plain text and links must not nest.
func inLink(n ast.Node) bool {
	for p := n.Parent(); p != nil; p = p.Parent() {
		switch p.Kind() {
		case ast.KindLink, ast.KindAutoLink:
			return true
		}
	}
	return false
}

// walkMentions calls fn with the handle of every mention that Render would
// highlight, in document order.
func walkMentions(doc ast.Node, fn func(handle string)) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering && n.Kind() == kindMention && !inLink(n) {
			fn(n.(*mention).handle)
		}
		return ast.WalkContinue, nil
	})
}
