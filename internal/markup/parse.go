package markup

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Limits of the chat dialect.
const (
	emoteNameMax   = 32  // :name: is 1 to 32 of [A-Za-z0-9_]
	mentionNameMin = 2   // @name#1234: name is 2 to 24 of [A-Za-z0-9_-]
	mentionNameMax = 24  //
	mentionDigits  = 4   // exactly four digits after '#'
	hostMax        = 253 // longest DNS name
	labelMax       = 63  // longest DNS label
)

// newParser builds the goldmark parser of the chat dialect.
//
// Only the paragraph, fenced code and greentext block parsers are installed,
// so headings, lists, thematic breaks, indented code, HTML blocks, tables and
// block quotes are never recognised and stay as typed text. The inline
// parsers are code spans, links, <autolinks>, emphasis, strikethrough,
// linkify (http and https only, no e-mail addresses), mentions and, when
// emotes is not nil, emotes. There is no raw HTML parser: '<' is text.
func newParser(emotes Emotes) parser.Parser {
	inline := []util.PrioritizedValue{
		util.Prioritized(parser.NewCodeSpanParser(), 100),
		util.Prioritized(parser.NewLinkParser(), 200),
		util.Prioritized(parser.NewAutoLinkParser(), 300),
		util.Prioritized(parser.NewEmphasisParser(), 500),
		util.Prioritized(extension.NewStrikethroughParser(), 500),
		util.Prioritized(mentionParser{}, 600),
		util.Prioritized(extension.NewLinkifyParser(
			extension.WithLinkifyAllowedProtocols([]string{"http:", "https:"}),
			// A pattern that never matches: addresses are not linked.
			extension.WithLinkifyEmailRegexp(regexp.MustCompile(`\A\z.`)),
		), 999),
	}
	if emotes != nil {
		inline = append(inline, util.Prioritized(emoteParser{emotes: emotes}, 600))
	}
	return parser.NewParser(
		parser.WithBlockParsers(
			util.Prioritized(parser.NewFencedCodeBlockParser(), 700),
			util.Prioritized(greentextParser{}, 800),
			util.Prioritized(paragraphParser{parser.NewParagraphParser()}, 1000),
		),
		parser.WithInlineParsers(inline...),
	)
}

// newMentionParser is the parser Mentions uses: the same dialect without
// emotes, which never contain '@' and so never change what is a mention.
func newMentionParser() parser.Parser { return newParser(nil) }

// newReader wraps source for the parser.
func newReader(src []byte) text.Reader { return text.NewReader(src) }

// paragraphParser is goldmark's paragraph parser, which also opens on a line
// indented by four or more spaces. With no indented code block parser, such a
// line would otherwise open no block at all and vanish.
type paragraphParser struct {
	parser.BlockParser
}

// CanAcceptIndentedLine implements parser.BlockParser.
func (paragraphParser) CanAcceptIndentedLine() bool { return true }

// greentextParser makes every line that starts with '>' (after at most three
// spaces) a greentext block of its own, replacing CommonMark block quotes.
type greentextParser struct{}

// Trigger implements parser.BlockParser.
func (greentextParser) Trigger() []byte { return []byte{'>'} }

// Open implements parser.BlockParser.
func (greentextParser) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, seg := reader.PeekLine()
	pos := pc.BlockOffset()
	if pos < 0 || pos >= len(line) || line[pos] != '>' {
		return nil, parser.NoChildren
	}
	n := &greentext{}
	seg = text.NewSegment(seg.Start+pos, seg.Stop)
	n.Lines().Append(seg.TrimRightSpace(reader.Source()))
	reader.AdvanceToEOL()
	return n, parser.NoChildren
}

// Continue implements parser.BlockParser: a greentext block is one line.
func (greentextParser) Continue(ast.Node, text.Reader, parser.Context) parser.State {
	return parser.Close
}

// Close implements parser.BlockParser.
func (greentextParser) Close(ast.Node, text.Reader, parser.Context) {}

// CanInterruptParagraph implements parser.BlockParser: a '>' line inside a
// paragraph starts a greentext line.
func (greentextParser) CanInterruptParagraph() bool { return true }

// CanAcceptIndentedLine implements parser.BlockParser.
func (greentextParser) CanAcceptIndentedLine() bool { return false }

// emoteParser turns :name: into an emote when the instance has one by that
// name and its image is local.
type emoteParser struct {
	emotes Emotes
}

// Trigger implements parser.InlineParser.
func (emoteParser) Trigger() []byte { return []byte{':'} }

// Parse implements parser.InlineParser.
func (p emoteParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	i := 1
	for i < len(line) && i <= emoteNameMax+1 && isEmoteByte(line[i]) {
		i++
	}
	if i == 1 || i > emoteNameMax+1 || i >= len(line) || line[i] != ':' {
		return nil
	}
	name := string(line[1:i])
	src, ok := p.emotes.EmoteURL(name)
	if !ok || !localSrc(src) {
		return nil
	}
	block.Advance(i + 1)
	return &emote{name: name, src: src}
}

// mentionParser turns @name#1234 and @name#1234@host into mentions.
type mentionParser struct{}

// Trigger implements parser.InlineParser.
func (mentionParser) Trigger() []byte { return []byte{'@'} }

// Parse implements parser.InlineParser.
func (mentionParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	if prev := block.PrecendingCharacter(); isWordRune(prev) {
		return nil // part of a word or an address, not a mention
	}
	line, _ := block.PeekLine()
	n, handle := scanMention(line)
	if n == 0 {
		return nil
	}
	typed := string(line[:n])
	block.Advance(n)
	return &mention{handle: handle, typed: typed}
}

// scanMention reads a mention at the start of b, which starts with '@'. It
// returns the length of the mention and its handle, or 0 and "".
func scanMention(b []byte) (int, string) {
	if len(b) == 0 || b[0] != '@' {
		return 0, ""
	}
	i := 1
	for i < len(b) && isNameByte(b[i]) {
		i++
	}
	if n := i - 1; n < mentionNameMin || n > mentionNameMax {
		return 0, ""
	}
	if i >= len(b) || b[i] != '#' {
		return 0, ""
	}
	i++
	start := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i-start != mentionDigits {
		return 0, ""
	}
	if i < len(b) && isWordByte(b[i]) {
		return 0, ""
	}
	end := i
	handle := string(b[1:i])
	if i < len(b) && b[i] == '@' {
		if h := scanHost(b[i+1:]); h > 0 {
			end = i + 1 + h
			handle += "@" + strings.ToLower(string(b[i+1:end]))
		}
	}
	return end, handle
}

// hasMentionCandidate reports whether src contains anything scanMention
// accepts, ignoring Markdown context.
func hasMentionCandidate(src []byte) bool {
	for i := bytes.IndexByte(src, '@'); i >= 0; {
		if n, _ := scanMention(src[i:]); n > 0 {
			return true
		}
		j := bytes.IndexByte(src[i+1:], '@')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// scanHost reads a host name (dot-separated DNS labels) with an optional
// :port at the start of b and returns its length, or 0. A trailing dot (the
// end of a sentence) is not part of the host.
func scanHost(b []byte) int {
	i, end := 0, 0
	for {
		s := i
		for i < len(b) && i-s < labelMax && (isAlnum(b[i]) || b[i] == '-') {
			i++
		}
		if i == s || b[s] == '-' || b[i-1] == '-' {
			break
		}
		end = i
		if i+1 < len(b) && b[i] == '.' && isAlnum(b[i+1]) {
			i++
			continue
		}
		break
	}
	if end == 0 || end > hostMax {
		return 0
	}
	if end < len(b) && b[end] == ':' {
		j := end + 1
		for j < len(b) && j-end <= 5 && isDigit(b[j]) {
			j++
		}
		if j > end+1 && (j >= len(b) || !isDigit(b[j])) {
			end = j
		}
	}
	if end < len(b) && (isWordByte(b[end]) || b[end] == '-') {
		return 0
	}
	return end
}

// localSrc reports whether src is a path on this site: it starts with one
// '/' (not "//", which is another host) and contains only printable ASCII
// that cannot make a browser read it as another host ("/\evil", tabs and
// newlines, which browsers strip) or break out of the attribute.
func localSrc(src string) bool {
	if len(src) < 2 || src[0] != '/' || src[1] == '/' {
		return false
	}
	for i := 0; i < len(src); i++ {
		if !isSrcByte(src[i]) {
			return false
		}
	}
	_, err := url.Parse(src)
	return err == nil
}

// isSrcByte reports whether c may appear in an emote src.
func isSrcByte(c byte) bool {
	if isAlnum(c) {
		return true
	}
	return strings.IndexByte("/._~-%!$&()*+,;=:@?#", c) >= 0
}

func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool     { return isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isWordByte(c byte) bool  { return isAlnum(c) || c == '_' }
func isNameByte(c byte) bool  { return isWordByte(c) || c == '-' }
func isEmoteByte(c byte) bool { return isWordByte(c) }

// isWordRune reports whether r, the character before '@', makes the '@'
// part of a word, an address or another handle rather than a mention.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-@#/", r)
}
