package markup

import (
	"regexp"

	"github.com/microcosm-cc/bluemonday"
)

// newPolicy builds the allow-list that every rendered message passes through
// last. It admits exactly what the renderer writes and nothing else:
//
//	a      href (absolute http/https), rel (the four tokens), target=_blank
//	em strong code pre del br
//	span   class=greentext|mention, data-handle=name#1234[@host]
//	img    class=emote, src (a local path), alt and title (":name:")
//
// Links always end up with rel="nofollow noopener noreferrer ugc" and
// target="_blank": the renderer writes them, and bluemonday's own link rules
// (nofollow, noreferrer, target=_blank, noopener) are on as a second line.
func newPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()

	p.AllowElements("em", "strong", "code", "pre", "del", "br")

	p.RequireParseableURLs(true)
	p.AllowURLSchemes("http", "https")
	// Relative URLs are needed for emote images only; the regular
	// expressions below keep a.href absolute and img.src local.
	p.AllowRelativeURLs(true)
	p.AllowAttrs("href").Matching(regexp.MustCompile(`(?i)\Ahttps?://[^\x00-\x20\\]+\z`)).OnElements("a")
	p.AllowAttrs("rel").Matching(regexp.MustCompile(`\A` + linkRel + `\z`)).OnElements("a")
	p.AllowAttrs("target").Matching(regexp.MustCompile(`\A_blank\z`)).OnElements("a")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)

	p.AllowAttrs("class").Matching(regexp.MustCompile(`\A(?:greentext|mention)\z`)).OnElements("span")
	p.AllowAttrs("data-handle").Matching(regexp.MustCompile(
		`\A[A-Za-z0-9_-]{2,24}#[0-9]{4}(?:@[a-z0-9.-]{1,253}(?::[0-9]{1,5})?)?\z`)).OnElements("span")

	p.AllowAttrs("class").Matching(regexp.MustCompile(`\Aemote\z`)).OnElements("img")
	p.AllowAttrs("src").Matching(regexp.MustCompile(
		`\A/[A-Za-z0-9._~%!$&()*+,;=:@?#-][A-Za-z0-9/._~%!$&()*+,;=:@?#-]*\z`)).OnElements("img")
	p.AllowAttrs("alt", "title").Matching(regexp.MustCompile(`\A:[A-Za-z0-9_]{1,32}:\z`)).OnElements("img")

	return p
}
