package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/store"
)

// putSettings saves settings as admin and fails the test if refused.
func putSettings(t *testing.T, s *apptest.Server, admin string, v map[string]any) map[string]any {
	t.Helper()
	r := s.Do("PUT", "/api/v1/admin/settings", v, admin)
	if r.Status != http.StatusOK {
		t.Fatalf("save settings %v: %d %s", v, r.Status, r.Raw)
	}
	return r.Body["settings"].(map[string]any)
}

// Every settings, invite and emote-rename call is for admins only, by
// their current role.
func TestSettingsAPIRefusesOthers(t *testing.T) {
	s, _, _ := adminSetup(t)
	calls := [][3]string{
		{"GET", "/api/v1/admin/settings", ""},
		{"PUT", "/api/v1/admin/settings", `{"name":"mine"}`},
		{"GET", "/api/v1/admin/invites", ""},
		{"POST", "/api/v1/admin/invites", `{"uses":1,"seconds":3600}`},
		{"DELETE", "/api/v1/admin/invites/1", ""},
		{"PATCH", "/api/v1/emotes/x", `{"name":"y"}`},
	}
	tokens := map[string]string{"anonymous": "", "user": s.Login("kim", "kim-password"), "moderator": s.Login("mo", "mo-password")}
	for who, tok := range tokens {
		for _, c := range calls {
			var body any
			if c[2] != "" {
				body = c[2]
			}
			want := http.StatusForbidden
			if tok == "" {
				want = http.StatusUnauthorized
			}
			if r := s.Do(c[0], c[1], body, tok); r.Status != want {
				t.Errorf("%s: %s %s: %d, want %d", who, c[0], c[1], r.Status, want)
			}
		}
	}
}

// Bad values are refused with the field in the code and nothing changes;
// good ones are saved, shown, audited, and kept over the flags after a
// restart.
func TestSettingsValidationAndAudit(t *testing.T) {
	s, admin, _ := adminSetup(t)
	r := s.Do("GET", "/api/v1/admin/settings", nil, admin)
	if r.Status != 200 || r.Body["saved"] != false || r.Body["settings"].(map[string]any)["chatMaxLength"] != float64(500) {
		t.Fatalf("settings before a save: %d %s", r.Status, r.Raw)
	}
	bad := map[string]map[string]any{
		"invalid_name":            {"name": strings.Repeat("n", 65)},
		"invalid_description":     {"description": strings.Repeat("d", 501)},
		"invalid_registration":    {"registration": "sometimes"},
		"invalid_chat_max_length": {"chatMaxLength": 4001},
		"invalid_chat_rate":       {"chatRate": 0},
		"invalid_chat_burst":      {"chatBurst": -1},
		"invalid_accent_color":    {"accentColor": "javascript:x"},
		"invalid_json":            {"colour": "#ffffff"},
	}
	for code, body := range bad {
		wantError(t, s.Do("PUT", "/api/v1/admin/settings", body, admin), 400, code)
	}
	if r := s.Do("GET", "/api/v1/admin/settings", nil, admin); r.Body["saved"] != false {
		t.Fatalf("a refused save changed the settings: %s", r.Raw)
	}
	got := putSettings(t, s, admin, map[string]any{"name": "Wave Town", "registration": "invite", "chatBurst": 7, "accentColor": "#ffcc00"})
	if got["name"] != "Wave Town" || got["registration"] != "invite" || got["chatBurst"] != float64(7) || got["guests"] != true {
		t.Fatalf("saved: %v", got)
	}
	e := lastAudit(t, s, admin)
	if e["action"] != "settings" || !strings.Contains(e["detail"].(string), "registration: open → invite") {
		t.Fatalf("audit: %v", e)
	}
	inv := s.Do("POST", "/api/v1/admin/invites", map[string]any{"uses": 3, "seconds": 3600}, admin)
	if inv.Status != 201 || !strings.Contains(inv.Body["url"].(string), "/register?invite=") {
		t.Fatalf("invite: %d %s", inv.Status, inv.Raw)
	}
	id := inv.Body["invite"].(map[string]any)["id"]
	if e := lastAudit(t, s, admin); e["action"] != "invite_create" {
		t.Fatalf("audit: %v", e)
	}
	wantError(t, s.Do("POST", "/api/v1/admin/invites", map[string]any{"uses": 0, "seconds": 3600}, admin), 400, "invalid_uses")
	wantError(t, s.Do("POST", "/api/v1/admin/invites", map[string]any{"uses": 1, "seconds": 5}, admin), 400, "invalid_expiry")
	if r := s.Do("DELETE", "/api/v1/admin/invites/"+fmt.Sprint(id), nil, admin); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	if e := lastAudit(t, s, admin); e["action"] != "invite_revoke" {
		t.Fatalf("audit: %v", e)
	}
	wantError(t, s.Do("DELETE", "/api/v1/admin/invites/"+fmt.Sprint(id), nil, admin), 404, "no_such_invite")
	if r := s.Do("GET", "/api/v1/admin/invites", nil, admin); r.Status != 200 || len(r.Body["invites"].([]any)) != 0 {
		t.Fatalf("invites after revoke: %s", r.Raw)
	}

	// The flag says another name; the saved one wins.
	s.Cfg.Name = "Flag Name"
	s.Restart()
	admin = s.Login("boss", "boss-password")
	if r := s.Do("GET", "/api/v1/admin/settings", nil, admin); r.Body["settings"].(map[string]any)["name"] != "Wave Town" {
		t.Fatalf("after restart: %s", r.Raw)
	}
	if r := s.Do("GET", "/theme.css?c=ffcc00", nil, ""); !strings.Contains(string(r.Raw), "--accent: #ffcc00; --accent-text: #111") {
		t.Fatalf("theme: %s", r.Raw)
	}
}

// noRedirect posts forms without following the redirect.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func postRegister(t *testing.T, s *apptest.Server, form url.Values) (int, string) {
	t.Helper()
	res, err := noRedirect.PostForm(s.URL+"/register", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

// Registration closed and invite-only apply at once through the API and
// the form; an invite link works in the browser's form and only as often
// as it was made for, and never once expired.
func TestRegistrationSettingsApply(t *testing.T) {
	s, admin, _ := adminSetup(t)
	creds := func(name string) map[string]string { return map[string]string{"name": name, "password": "password1"} }
	form := func(name, invite string) url.Values {
		return url.Values{"name": {name}, "password": {"password1"}, "password2": {"password1"}, "invite": {invite}, "next": {"/"}}
	}

	putSettings(t, s, admin, map[string]any{"registration": "closed"})
	wantError(t, s.Do("POST", "/api/v1/register", creds("ann"), ""), 403, "registration_closed")
	if st, body := postRegister(t, s, form("ann", "")); st != 403 || !strings.Contains(body, `id="registration-closed"`) {
		t.Fatalf("form while closed: %d", st)
	}
	if r := s.Do("GET", "/register", nil, ""); strings.Contains(string(r.Raw), `id="register-form"`) || strings.Contains(string(r.Raw), `id="nav-register"`) {
		t.Fatal("the sign-up form or link is shown while registration is closed")
	}

	putSettings(t, s, admin, map[string]any{"registration": "invite"})
	wantError(t, s.Do("POST", "/api/v1/register", creds("ann"), ""), 403, "invite_required")
	inv := s.Do("POST", "/api/v1/admin/invites", map[string]any{"uses": 1, "seconds": 3600}, admin)
	link, _ := url.Parse(inv.Body["url"].(string))
	secret := link.Query().Get("invite")
	if r := s.Do("GET", "/register?invite=nonsense", nil, ""); r.Status != 404 {
		t.Fatalf("register page with a bad invite: %d", r.Status)
	}
	if r := s.Do("GET", link.RequestURI(), nil, ""); r.Status != 200 || !strings.Contains(string(r.Raw), `name="invite" value="`+secret+`"`) {
		t.Fatalf("register page with the invite: %d", r.Status)
	}
	if st, _ := postRegister(t, s, form("ann", secret)); st != http.StatusSeeOther {
		t.Fatalf("form with the invite: %d", st)
	}
	wantError(t, s.Do("POST", "/api/v1/register", map[string]string{"name": "bob", "password": "password1", "invite": secret}, ""), 403, "invalid_invite")

	// An expired invite, as if made a day ago for an hour.
	expired := "expired-invite-secret"
	st := s.App.Core().Store
	if err := st.CreateInvite(context.Background(), &store.Invite{Hash: auth.HashSecret(expired), MaxUses: 5, CreatedBy: 1, Expires: time.Now().Add(-23 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantError(t, s.Do("POST", "/api/v1/register", map[string]string{"name": "bob", "password": "password1", "invite": expired}, ""), 403, "invalid_invite")

	putSettings(t, s, admin, map[string]any{"registration": "open"})
	if r := s.Do("POST", "/api/v1/register", creds("bob"), ""); r.Status != 201 {
		t.Fatalf("open again: %d %s", r.Status, r.Raw)
	}
}

// Guests off: new guests are refused and a guest's token stops at once.
func TestGuestsSettingApplies(t *testing.T) {
	s, admin, _ := adminSetup(t)
	g := s.Do("POST", "/api/v1/guest", nil, "")
	if g.Status != 201 {
		t.Fatalf("guest: %d", g.Status)
	}
	tok := g.Body["token"].(string)
	if r := s.Do("GET", "/api/v1/me", nil, tok); r.Status != 200 {
		t.Fatalf("guest me: %d", r.Status)
	}
	putSettings(t, s, admin, map[string]any{"guests": false})
	wantError(t, s.Do("POST", "/api/v1/guest", nil, ""), 403, "guests_disabled")
	if r := s.Do("GET", "/api/v1/me", nil, tok); r.Status != 401 {
		t.Fatalf("guest token after guests off: %d", r.Status)
	}
}

// A lower message length applies to the next message of a chat
// connection that is already open.
func TestChatLimitSettingApplies(t *testing.T) {
	s, admin, _ := adminSetup(t)
	s.CreateUser("stella", "stella-password", auth.RoleStreamer)
	c := s.Dial(s.Login("kim", "kim-password"))
	c.Join("stella", nil)
	long := strings.Repeat("x", 30)
	c.Say("stella", long, "n1")
	putSettings(t, s, admin, map[string]any{"chatMaxLength": 20})
	c.Send(map[string]any{"type": "send", "channel": "stella", "text": long, "nonce": "n2"})
	f := c.ExpectWhere(func(f map[string]any) bool { return f["nonce"] == "n2" })
	if f["type"] != "error" || f["code"] != "too_long" {
		t.Fatalf("30 characters after the limit went to 20: %v", f)
	}
	c.Say("stella", strings.Repeat("y", 20), "n3")
}

// The name and description show on the pages and in NodeInfo, which
// follows the registration mode.
func TestSiteNameShows(t *testing.T) {
	s, admin, _ := adminSetup(t)
	putSettings(t, s, admin, map[string]any{"name": "Wave <Town>", "description": "Streams & friends", "rules": "**Be kind**", "registration": "invite"})
	home := string(s.Do("GET", "/", nil, "").Raw)
	for _, want := range []string{"<title>Live · Wave &lt;Town&gt;</title>", `<span id="site-name">Wave &lt;Town&gt;</span>`, "Streams &amp; friends", `href="/rules"`} {
		if !strings.Contains(home, want) {
			t.Errorf("home page lacks %s", want)
		}
	}
	if rules := string(s.Do("GET", "/rules", nil, "").Raw); !strings.Contains(rules, "<strong>Be kind</strong>") {
		t.Errorf("rules page: %s", rules)
	}
	if reg := string(s.Do("GET", "/register", nil, "").Raw); !strings.Contains(reg, "<strong>Be kind</strong>") || !strings.Contains(reg, `id="registration-invite"`) {
		t.Errorf("register page lacks the rules or the invite-only note")
	}
	ni := s.Do("GET", "/nodeinfo/2.1", nil, "")
	if ni.Body["openRegistrations"] != false || ni.Body["metadata"].(map[string]any)["nodeName"] != "Wave <Town>" {
		t.Fatalf("nodeinfo: %s", ni.Raw)
	}
	// Linked sites see the same name.
	if wk := s.Do("GET", "/.well-known/fedwave", nil, ""); wk.Body["name"] != "Wave <Town>" {
		t.Errorf("/.well-known/fedwave: %s", wk.Raw)
	}
	putSettings(t, s, admin, map[string]any{"registration": "open", "name": ""})
	ni = s.Do("GET", "/nodeinfo/2.1", nil, "")
	if ni.Body["openRegistrations"] != true || ni.Body["metadata"].(map[string]any)["nodeName"] != "FedWave" {
		t.Fatalf("nodeinfo once open, with no name: %s", ni.Raw)
	}
	if wk := s.Do("GET", "/.well-known/fedwave", nil, ""); wk.Body["name"] != wk.Body["domain"] {
		t.Errorf("/.well-known/fedwave with no name: %s", wk.Raw)
	}
}

// An emote is renamed through the API, keeps its image, and every emote
// change is in the audit log.
func TestEmoteRenameAudited(t *testing.T) {
	s, admin, _ := adminSetup(t)
	var img bytes.Buffer
	png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 4, 4)))
	wantError(t, s.Do("PUT", "/api/v1/emotes/wave", append(bytes.Clone(img.Bytes()), "<svg onload=alert(1)>"...), admin), 400, "emote_invalid")
	if r := s.Do("PUT", "/api/v1/emotes/wave", img.Bytes(), admin); r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Raw)
	}
	if e := lastAudit(t, s, admin); e["action"] != "emote_upload" || e["detail"] != "wave" {
		t.Fatalf("audit: %v", e)
	}
	wantError(t, s.Do("PATCH", "/api/v1/emotes/wave", map[string]string{"name": "no spaces"}, admin), 400, "invalid_emote_name")
	wantError(t, s.Do("PATCH", "/api/v1/emotes/nope", map[string]string{"name": "fine"}, admin), 404, "emote_not_found")
	r := s.Do("PATCH", "/api/v1/emotes/wave", map[string]string{"name": "hello"}, admin)
	if r.Status != 200 || r.Body["emote"].(map[string]any)["url"] != "/emotes/hello.png" {
		t.Fatalf("rename: %d %s", r.Status, r.Raw)
	}
	if e := lastAudit(t, s, admin); e["action"] != "emote_rename" || e["detail"] != "wave → hello" {
		t.Fatalf("audit: %v", e)
	}
	if r := s.Do("GET", "/emotes/hello.png", nil, ""); r.Status != 200 || !bytes.Equal(r.Raw, img.Bytes()) ||
		r.Header.Get("Content-Type") != "image/png" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("renamed image: %d %v", r.Status, r.Header)
	}
	if r := s.Do("GET", "/emotes/wave.png", nil, ""); r.Status != 404 {
		t.Fatalf("old name still served: %d", r.Status)
	}
	if r := s.Do("DELETE", "/api/v1/emotes/hello", nil, admin); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	if e := lastAudit(t, s, admin); e["action"] != "emote_delete" {
		t.Fatalf("audit: %v", e)
	}
}
