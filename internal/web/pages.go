package web

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/settings"
	assets "github.com/fedwave/fedwave/web"
)

var pageNames = []string{"home", "channel", "login", "register", "setup", "reset", "status", "studio", "federation", "relays", "admin", "rules", "account"}

// standalonePages are complete documents without the site layout (the chat
// pop-out, also used as an OBS overlay).
var standalonePages = []string{"chat", "embed"}

// parsePages parses each page together with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(assets.FS, "templates/layout.html", "templates/chatbody.html", "templates/player.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	for _, name := range standalonePages {
		t, err := template.ParseFS(assets.FS, "templates/"+name+".html", "templates/chatbody.html", "templates/player.html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// page is what every template gets: the signed-in user (or nil), the page
// title, the site settings in force and the page's own data.
type page struct {
	Title string
	User  *auth.UserView
	Site  *settings.Snapshot
	Data  any
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.User == nil {
		if sess, _ := s.session(r); sess != nil {
			u := auth.View(sess.User)
			p.User = &u
		}
	}
	p.Site = s.site()
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the page could not be rendered")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type statusData struct{ Heading, Text string }

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	s.render(w, r, status, "status", page{Title: heading, Data: statusData{heading, text}})
}

func (s *Server) pageHome(w http.ResponseWriter, r *http.Request) {
	list, err := s.channels.List(r.Context())
	if err != nil {
		st, _, msg := s.statusOf(r, err)
		s.renderStatus(w, r, st, "Something went wrong", msg)
		return
	}
	cards := channelCards(list)
	s.render(w, r, http.StatusOK, "home", page{Title: "Live", Data: homeData{Cards: cards, AnyLive: len(cards) > 0 && cards[0].Live}})
}

// homeData is the home page: the channels, live first.
type homeData struct {
	Cards   []channelCard
	AnyLive bool
}

// channelCard is a channel as the home page lists it.
type channelCard struct {
	channels.View
	Label string // the name without the host of a federated channel
}

// channelCards orders the list live first (CONTRACT §6), keeping the
// service's order within each group: local channels before federated ones.
func channelCards(list []channels.View) []channelCard {
	cards := make([]channelCard, 0, len(list))
	for _, live := range []bool{true, false} {
		for _, ch := range list {
			if ch.Live == live {
				cards = append(cards, channelCard{View: ch, Label: localName(ch)})
			}
		}
	}
	return cards
}

// localName is a channel's name without its host: "alice" for alice@a.example.
func localName(ch channels.View) string {
	if i := strings.LastIndexByte(ch.Name, '@'); ch.Instance != "" && i > 0 {
		return ch.Name[:i]
	}
	return ch.Name
}

type channelData struct {
	Channel     channels.View
	Label       string // the name without the host of a federated channel
	WHIP        string // ingest URL for OBS
	CanEdit     bool
	IsOwner     bool
	CanModerate bool // chat moderation menu
	Guests      bool // the instance allows guests
	Popout      bool // the chat alone (/c/{name}/chat)
	Embed       bool // the player alone (/c/{name}/embed)
	Transparent bool // chat pop-out as an OBS overlay
	Carry       bool // the player may help carry the stream (the feature is on, the channel local)
}

// channelPage gathers what the channel and chat pages show.
func (s *Server) channelPage(w http.ResponseWriter, r *http.Request) (page, *channelData, bool) {
	ch, err := s.channels.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		st, _, msg := s.statusOf(r, err)
		s.renderStatus(w, r, st, "No such channel", msg)
		return page{}, nil, false
	}
	s.ensureBrowserID(w, r)
	d := &channelData{Channel: ch, Label: localName(ch), WHIP: s.publicURL + "/whip/" + ch.Name, Guests: s.auth.GuestsAllowed(),
		Carry: s.carry.hub != nil && ch.Instance == ""}
	p := page{Title: ch.Name, Data: d}
	if sess, _ := s.session(r); sess != nil {
		u := auth.View(sess.User)
		p.User = &u
		if ch.Instance != "" {
			// Another site's channel: its owner and moderators are
			// there, and that site applies its own moderation.
			return p, d, true
		}
		d.IsOwner = u.Handle == ch.Owner && auth.Role(sess.User.Role).HasChannel()
		d.CanEdit = d.IsOwner || auth.CanAdminister(sess.User)
		d.CanModerate = s.chat.CanModerate(r.Context(), sess.User, ch.Name)
	}
	return p, d, true
}

func (s *Server) pageChannel(w http.ResponseWriter, r *http.Request) {
	if p, d, ok := s.channelPage(w, r); ok {
		s.allowRelays(w)
		if d.Channel.Instance == "" {
			s.allowFollowRedirect(w)
		}
		s.render(w, r, http.StatusOK, "channel", p)
	}
}

func (s *Server) pageEmbed(w http.ResponseWriter, r *http.Request) {
	if p, d, ok := s.channelPage(w, r); ok {
		d.Embed = true
		s.allowRelays(w)
		s.render(w, r, http.StatusOK, "embed", p)
	}
}

// pageStudio is the streamer's control room: go live from the browser, or
// get the settings for OBS.
func (s *Server) pageStudio(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.session(r)
	if sess == nil {
		http.Redirect(w, r, "/login?next=/studio", http.StatusSeeOther)
		return
	}
	if !auth.Role(sess.User.Role).HasChannel() {
		s.renderStatus(w, r, http.StatusForbidden, "No channel yet", "The studio is for approved streamers. Ask an admin to make you one (!mkstreamer).")
		return
	}
	ch, err := s.channels.Get(r.Context(), sess.User.Name)
	if err != nil {
		st, _, msg := s.statusOf(r, err)
		s.renderStatus(w, r, st, "No channel", msg)
		return
	}
	u := auth.View(sess.User)
	s.render(w, r, http.StatusOK, "studio", page{Title: "Studio", User: &u, Data: &channelData{
		Channel: ch, WHIP: s.publicURL + "/whip/" + ch.Name, IsOwner: true, CanEdit: true,
	}})
}

func (s *Server) pageChat(w http.ResponseWriter, r *http.Request) {
	if p, d, ok := s.channelPage(w, r); ok {
		d.Popout, d.Transparent = true, r.URL.Query().Get("transparent") == "1"
		p.Title = d.Channel.Name + " chat"
		s.render(w, r, http.StatusOK, "chat", p)
	}
}

// formData is what the login, register, setup and reset forms show again
// after a failed attempt.
type formData struct {
	Name  string
	Next  string
	Token string
	Error string
	// Invite is the invite link's secret carried by the register form.
	Invite string
}

// localNext keeps a post-login redirect on this site: a path of ours, or
// "/". Browsers drop tabs and newlines from URLs and read a backslash as a
// slash, so "/\t/evil.example" and "/\\evil.example" mean "//evil.example",
// another site; any such character, encoded or not, refuses the value.
func localNext(next string) string {
	if len(next) > 512 || !safeURLText(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || !safeURLText(u.Path) {
		return "/"
	}
	return u.String()
}

// safeURLText reports whether s has no control character, backslash or
// whitespace, which a browser might strip or reinterpret.
func safeURLText(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r)
	})
}

func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", page{Title: "Log in", Data: formData{Next: localNext(r.URL.Query().Get("next"))}})
}

// pageRegister shows the sign-up form as the registration mode allows;
// an invite link (/register?invite=...) is checked before the form shows.
func (s *Server) pageRegister(w http.ResponseWriter, r *http.Request) {
	d := formData{Next: localNext(r.URL.Query().Get("next")), Invite: r.URL.Query().Get("invite")}
	if d.Invite != "" && s.auth.RegistrationMode() == auth.RegistrationInvite && !s.auth.InviteValid(r.Context(), d.Invite) {
		s.renderStatus(w, r, http.StatusNotFound, "Invite link not valid", "This invite link is invalid, used up or expired. Ask for a new one.")
		return
	}
	s.render(w, r, http.StatusOK, "register", page{Title: "Create an account", Data: d})
}

// parseForm reads a small urlencoded form.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	return r.ParseForm() == nil
}

var errBadForm = fail.New(fail.Invalid, "invalid_form", "the form could not be read; reload the page and try again")

// accountForm is one of the forms that end with the user logged in (login,
// register, setup, reset).
type accountForm struct {
	page, title string
	repeat      bool // the form asks for the new password twice
	submit      func(r *http.Request, d formData, password string) (auth.Issued, error)
}

// handleAccountForm reads the form, calls submit, and either sets the
// session cookie and redirects, or shows the form again with the error.
func (s *Server) handleAccountForm(f accountForm) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ok := parseForm(w, r)
		d := formData{Name: r.PostFormValue("name"), Next: localNext(r.PostFormValue("next")), Token: r.PostFormValue("token"), Invite: r.PostFormValue("invite")}
		var tok auth.Issued
		err := errBadForm
		switch {
		case !ok:
		case f.repeat && r.PostFormValue("password") != r.PostFormValue("password2"):
			err = fail.New(fail.Invalid, "password_mismatch", "the two passwords are not the same")
		default:
			tok, err = f.submit(r, d, r.PostFormValue("password"))
		}
		if err != nil {
			st, _, msg := s.statusOf(r, err)
			d.Error = msg
			s.render(w, r, st, f.page, page{Title: f.title, Data: d})
			return
		}
		s.setSessionCookie(w, tok)
		http.Redirect(w, r, d.Next, http.StatusSeeOther)
	}
}

func (s *Server) formLogin(r *http.Request, d formData, password string) (auth.Issued, error) {
	_, tok, err := s.auth.Login(r.Context(), clientIP(r), d.Name, password)
	return tok, err
}

func (s *Server) formRegister(r *http.Request, d formData, password string) (auth.Issued, error) {
	_, tok, err := s.auth.Register(r.Context(), clientIP(r), d.Name, password, d.Invite)
	return tok, err
}

func (s *Server) formSetup(r *http.Request, d formData, password string) (auth.Issued, error) {
	_, tok, err := s.auth.CompleteSetup(r.Context(), clientIP(r), d.Token, d.Name, password)
	return tok, err
}

func (s *Server) formReset(r *http.Request, d formData, password string) (auth.Issued, error) {
	_, tok, err := s.auth.CompleteReset(r.Context(), clientIP(r), d.Token, password)
	return tok, err
}

func (s *Server) formLogout(w http.ResponseWriter, r *http.Request) {
	if sess, _ := s.session(r); sess != nil {
		if err := s.auth.Logout(r.Context(), sess); err != nil {
			s.log.Error("logout", "err", err)
		}
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) pageSetup(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if !s.auth.SetupValid(r.Context(), tok) {
		s.renderStatus(w, r, http.StatusNotFound, "Setup link not valid",
			"This setup link is invalid, used or expired. Restart FedWave to print a new one, or run `fedwave user create NAME --role admin --password-stdin`.")
		return
	}
	s.render(w, r, http.StatusOK, "setup", page{Title: "Create the admin account", Data: formData{Token: tok}})
}

func (s *Server) pageReset(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if !s.auth.ResetValid(r.Context(), tok) {
		s.renderStatus(w, r, http.StatusNotFound, "Link not valid", "This password link is invalid, used or expired. Ask your admin for a new one.")
		return
	}
	s.render(w, r, http.StatusOK, "reset", page{Title: "Choose a password", Data: formData{Token: tok}})
}
