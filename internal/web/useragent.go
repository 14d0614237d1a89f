package web

import "strings"

// clientSummary names a session's client for its owner, such as "Firefox
// on Linux", from its User-Agent. It only has to be recognisable, not
// exact; anything unknown is "Unknown client".
func clientSummary(agent string) string {
	if agent == "" {
		return "Unknown client"
	}
	browser := firstMatch(agent, [][2]string{
		// Order matters: Edge and Opera also say Chrome, Chrome also says
		// Safari.
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Chromium (headless)"},
		{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"OBS/", "OBS"}, {"curl/", "curl"}, {"Go-http-client/", "Go program"}, {"python", "Python program"},
	})
	system := firstMatch(agent, [][2]string{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"}, {"BSD", "BSD"},
	})
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	}
	return "Unknown client"
}

func firstMatch(s string, table [][2]string) string {
	for _, e := range table {
		if strings.Contains(s, e[0]) {
			return e[1]
		}
	}
	return ""
}
