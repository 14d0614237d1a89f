package web_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fedwave/fedwave/internal/app/apptest"
	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/config"
)

func register(t *testing.T, s *apptest.Server, name, password string) (map[string]any, string) {
	t.Helper()
	r := s.Do("POST", "/api/v1/register", map[string]string{"name": name, "password": password}, "")
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.Status, r.Raw)
	}
	return r.Body["user"].(map[string]any), r.Body["token"].(string)
}

func wantError(t *testing.T, r *apptest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d (body %s)", r.Status, status, r.Raw)
	}
	if msg, _ := r.Body["error"].(map[string]any)["message"].(string); msg == "" {
		t.Fatalf("error body without message: %s", r.Raw)
	}
	if code != "" && r.ErrorCode() != code {
		t.Fatalf("error code %q, want %q (body %s)", r.ErrorCode(), code, r.Raw)
	}
}

func TestAccountLifecycle(t *testing.T) {
	s := apptest.Start(t)
	user, token := register(t, s, "alice", "correct horse")
	handle := user["handle"].(string)
	if user["name"] != "alice" || user["role"] != "user" || !strings.HasPrefix(handle, "alice#") || len(handle) != len("alice#1234") {
		t.Fatalf("unexpected user %v", user)
	}
	for _, k := range []string{"id", "name", "num", "handle", "color", "avatar", "role"} {
		if _, ok := user[k]; !ok {
			t.Errorf("user lacks %q: %v", k, user)
		}
	}
	if parts := strings.Split(token, "."); len(parts) != 3 {
		t.Fatalf("token is not a JWS: %q", token)
	}

	me := s.Do("GET", "/api/v1/me", nil, token)
	if me.Status != 200 || me.Body["user"].(map[string]any)["handle"] != handle {
		t.Fatalf("me: %d %s", me.Status, me.Raw)
	}

	// Login by name and by handle, case-insensitively by name.
	for _, login := range []string{"alice", handle, "ALICE"} {
		r := s.Do("POST", "/api/v1/login", map[string]string{"name": login, "password": "correct horse"}, "")
		if r.Status != 200 || r.Body["user"].(map[string]any)["handle"] != handle {
			t.Fatalf("login as %q: %d %s", login, r.Status, r.Raw)
		}
	}
	wantError(t, s.Do("POST", "/api/v1/login", map[string]string{"name": "alice", "password": "wrong password"}, ""), 401, "invalid_credentials")
	wantError(t, s.Do("POST", "/api/v1/login", map[string]string{"name": "alice#0000", "password": "correct horse"}, ""), 401, "invalid_credentials")
	wantError(t, s.Do("POST", "/api/v1/login", map[string]string{"name": "nobody", "password": "correct horse"}, ""), 401, "invalid_credentials")

	r := s.Do("POST", "/api/v1/logout", nil, token)
	if r.Status/100 != 2 {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, token), 401, "invalid_token")
	wantError(t, s.Do("GET", "/api/v1/me", nil, ""), 401, "unauthorized")
}

func TestGuest(t *testing.T) {
	s := apptest.Start(t)
	r := s.Do("POST", "/api/v1/guest", nil, "")
	if r.Status != 201 {
		t.Fatalf("guest: %d %s", r.Status, r.Raw)
	}
	u := r.Body["user"].(map[string]any)
	if u["role"] != "guest" || !strings.HasPrefix(u["handle"].(string), "guest-") {
		t.Fatalf("guest user %v", u)
	}
	if me := s.Do("GET", "/api/v1/me", nil, r.Body["token"].(string)); me.Status != 200 {
		t.Fatalf("guest token does not work: %d", me.Status)
	}
	// Nobody can register a guest-looking name.
	wantError(t, s.Do("POST", "/api/v1/register", map[string]string{"name": "guest-abcd", "password": "long enough"}, ""), 400, "reserved_name")

	off := apptest.Start(t, func(c *config.Config) { c.Guests = false })
	wantError(t, off.Do("POST", "/api/v1/guest", nil, ""), 403, "guests_disabled")
}

func TestRegisterRejectsBadInput(t *testing.T) {
	s := apptest.Start(t)
	register(t, s, "taken", "password1")
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"duplicate", map[string]string{"name": "taken", "password": "password1"}, 409, "name_taken"},
		{"duplicate other case", map[string]string{"name": "TAKEN", "password": "password1"}, 409, "name_taken"},
		{"sql", map[string]string{"name": "x'); DROP TABLE users;--", "password": "password1"}, 400, "invalid_name"},
		{"long name", map[string]string{"name": strings.Repeat("a", 10000), "password": "password1"}, 400, "invalid_name"},
		{"short name", map[string]string{"name": "a", "password": "password1"}, 400, "invalid_name"},
		{"unicode name", map[string]string{"name": "zoë", "password": "password1"}, 400, "invalid_name"},
		{"reserved", map[string]string{"name": "admin", "password": "password1"}, 400, "reserved_name"},
		{"short password", map[string]string{"name": "bob", "password": "short"}, 400, "invalid_password"},
		{"unknown field", `{"name":"bob","password":"password1","role":"admin"}`, 400, "invalid_json"},
		{"not json", `name=bob`, 400, "invalid_json"},
		{"truncated", `{"name":"bob",`, 400, "invalid_json"},
		{"empty", ``, 400, "invalid_json"},
		{"array", `[1,2]`, 400, "invalid_json"},
		{"wrong type", `{"name":5,"password":"password1"}`, 400, "invalid_json"},
		{"two objects", `{"name":"bob","password":"password1"}{}`, 400, "invalid_json"},
		{"huge", `{"name":"` + strings.Repeat("a", 200<<10) + `"}`, 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, s.Do("POST", "/api/v1/register", c.body, ""), c.status, c.code)
		})
	}
	// Nothing above created an account or broke the table.
	if r := s.Do("POST", "/api/v1/login", map[string]string{"name": "taken", "password": "password1"}, ""); r.Status != 200 {
		t.Fatalf("login after bad input: %d %s", r.Status, r.Raw)
	}
}

// forge signs claims with a key the server never saw.
func forge(t *testing.T, claims jwt.Claims, alg jose.SignatureAlgorithm) string {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBadTokens(t *testing.T) {
	s := apptest.Start(t)
	_, good := register(t, s, "carol", "password1")
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	claims["sub"] = "999"
	otherSub, _ := json.Marshal(claims)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(otherSub) + "." + parts[2]
	now := time.Now()
	forged := forge(t, jwt.Claims{Issuer: "fedwave", Audience: jwt.Audience{"fedwave-api"}, Subject: "1",
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: "x"}, jose.EdDSA)

	for name, tok := range map[string]string{
		"alg none":   none,
		"tampered":   tampered,
		"forged":     forged,
		"garbage":    "not.a.token",
		"empty sig":  parts[0] + "." + parts[1] + ".",
		"very long":  strings.Repeat("a", 20000),
		"whitespace": "   ",
	} {
		t.Run(name, func(t *testing.T) {
			r := s.Do("GET", "/api/v1/me", nil, tok)
			if r.Status != 401 {
				t.Fatalf("status %d, want 401: %s", r.Status, r.Raw)
			}
		})
	}
}

func TestExpiredToken(t *testing.T) {
	s := apptest.Start(t)
	_, tok := register(t, s, "dave", "password1")
	// Sign an already-expired token with the server's own key.
	core := s.App.Core()
	issued, err := core.Keys.Issue(1, time.Now().Add(-48*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, issued.Token), 401, "invalid_token")
	wantError(t, s.Do("GET", "/api/v1/me", nil, tok+"x"), 401, "invalid_token")
	r := s.Send(mustReq(t, "GET", s.URL+"/api/v1/me", func(h http.Header) { h.Set("Authorization", "Basic Zm9vOmJhcg==") }))
	wantError(t, r, 401, "invalid_token")
}

func mustReq(t *testing.T, method, url string, hdr func(http.Header)) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	hdr(req.Header)
	return req
}

func TestRestartKeepsStateAndRevocations(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("erin", "password1", auth.RoleStreamer)
	tok := s.Login("erin", "password1")
	revoked := s.Login("erin", "password1")
	if r := s.Do("POST", "/api/v1/logout", nil, revoked); r.Status/100 != 2 {
		t.Fatalf("logout %d", r.Status)
	}
	if r := s.Do("PATCH", "/api/v1/channels/erin", map[string]any{"title": "Morning show", "nsfw": true}, tok); r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Raw)
	}
	key := s.Do("POST", "/api/v1/channels/erin/stream-key", nil, tok).Body["streamKey"].(string)

	s.Restart()

	if r := s.Do("GET", "/api/v1/me", nil, tok); r.Status != 200 {
		t.Fatalf("token from before the restart: %d %s", r.Status, r.Raw)
	}
	wantError(t, s.Do("GET", "/api/v1/me", nil, revoked), 401, "invalid_token")
	ch := s.Do("GET", "/api/v1/channels/erin", nil, "").Body["channel"].(map[string]any)
	if ch["title"] != "Morning show" || ch["nsfw"] != true {
		t.Fatalf("channel after restart: %v", ch)
	}
	ok, err := s.App.Core().Channels.CheckStreamKey(t.Context(), "erin", key)
	if err != nil || !ok {
		t.Fatalf("stream key after restart: %v %v", ok, err)
	}
	s.Login("erin", "password1")
}

func TestChannels(t *testing.T) {
	s := apptest.Start(t)
	owner := s.CreateUser("frank", "password1", auth.RoleStreamer)
	s.CreateUser("grace", "password1", auth.RoleStreamer)
	s.CreateUser("root1", "password1", auth.RoleAdmin)
	_, viewer := register(t, s, "heidi", "password1")
	ownerTok := s.Login("frank", "password1")
	adminTok := s.Login("root1", "password1")

	list := s.Do("GET", "/api/v1/channels", nil, "")
	chans := list.Body["channels"].([]any)
	names := map[string]bool{}
	for _, c := range chans {
		names[c.(map[string]any)["name"].(string)] = true
	}
	if list.Status != 200 || !names["frank"] || !names["grace"] || names["heidi"] {
		t.Fatalf("channels: %d %s", list.Status, list.Raw)
	}

	r := s.Do("GET", "/api/v1/channels/frank", nil, "")
	ch := r.Body["channel"].(map[string]any)
	for _, k := range []string{"name", "title", "description", "owner", "live", "viewers", "startedAt", "thumbnail", "instance", "url", "whep"} {
		if _, ok := ch[k]; !ok {
			t.Errorf("channel lacks %q: %v", k, ch)
		}
	}
	if ch["owner"] != owner || ch["live"] != false || ch["instance"] != "" || ch["url"] != s.URL+"/c/frank" || ch["whep"] != s.URL+"/whep/frank" {
		t.Fatalf("channel: %v", ch)
	}
	wantError(t, s.Do("GET", "/api/v1/channels/nobody", nil, ""), 404, "channel_not_found")
	wantError(t, s.Do("GET", "/api/v1/channels/"+strings.Repeat("x", 300), nil, ""), 404, "channel_not_found")

	// Only the owner or an admin may edit or make a key.
	wantError(t, s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"title": "x"}, ""), 401, "unauthorized")
	wantError(t, s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"title": "x"}, viewer), 403, "forbidden")
	wantError(t, s.Do("POST", "/api/v1/channels/frank/stream-key", nil, viewer), 403, "forbidden")
	wantError(t, s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"title": strings.Repeat("t", 141)}, ownerTok), 400, "title_too_long")
	wantError(t, s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"title": "a\x00b"}, ownerTok), 400, "invalid_title")
	wantError(t, s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"colour": "red"}, ownerTok), 400, "invalid_json")

	r = s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"title": "  <b>Hi</b> & welcome ", "description": "line one\nline two"}, ownerTok)
	if r.Status != 200 {
		t.Fatalf("owner patch: %d %s", r.Status, r.Raw)
	}
	ch = r.Body["channel"].(map[string]any)
	if ch["title"] != "<b>Hi</b> & welcome" || ch["description"] != "line one\nline two" || ch["nsfw"] != false {
		t.Fatalf("after patch: %v", ch)
	}
	// A partial patch leaves the other fields alone.
	r = s.Do("PATCH", "/api/v1/channels/frank", map[string]any{"nsfw": true}, adminTok)
	if ch = r.Body["channel"].(map[string]any); r.Status != 200 || ch["nsfw"] != true || ch["title"] != "<b>Hi</b> & welcome" {
		t.Fatalf("admin patch: %d %s", r.Status, r.Raw)
	}

	k1 := s.Do("POST", "/api/v1/channels/frank/stream-key", nil, ownerTok)
	k2 := s.Do("POST", "/api/v1/channels/frank/stream-key", nil, ownerTok)
	key1, _ := k1.Body["streamKey"].(string)
	key2, _ := k2.Body["streamKey"].(string)
	if k1.Status != 200 || len(key1) < 32 || key1 == key2 {
		t.Fatalf("stream keys: %s / %s", k1.Raw, k2.Raw)
	}
	core := s.App.Core()
	if ok, _ := core.Channels.CheckStreamKey(t.Context(), "frank", key1); ok {
		t.Fatal("rotated-away key still valid")
	}
	if ok, _ := core.Channels.CheckStreamKey(t.Context(), "frank", key2); !ok {
		t.Fatal("new key not valid")
	}
	// Only a hash is stored.
	stored, _ := core.Store.Channel(t.Context(), "frank")
	if strings.Contains(stored.StreamKeyHash, key2) || stored.StreamKeyHash == "" {
		t.Fatalf("stream key stored in plain text: %q", stored.StreamKeyHash)
	}
}

func TestErrorShapes(t *testing.T) {
	s := apptest.Start(t)
	wantError(t, s.Do("GET", "/api/v1/nothing", nil, ""), 404, "not_found")
	r := s.Do("DELETE", "/api/v1/channels", nil, "")
	wantError(t, r, 405, "method_not_allowed")
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Fatalf("405 without Allow: %v", r.Header)
	}
	wantError(t, s.Do("POST", "/api/v1/login", `{"name":"x","password":"y"}`+strings.Repeat(" ", 70<<10), ""), 413, "body_too_large")
	req := mustReq(t, "POST", s.URL+"/api/v1/login", func(h http.Header) { h.Set("Content-Type", "text/xml") })
	wantError(t, s.Send(req), 415, "unsupported_media_type")
}

func TestCrossSiteRequestsRefused(t *testing.T) {
	s := apptest.Start(t)
	s.CreateUser("ivan", "password1", auth.RoleStreamer)
	tok := s.Login("ivan", "password1")
	req, _ := http.NewRequest("PATCH", s.URL+"/api/v1/channels/ivan", strings.NewReader(`{"title":"pwned"}`))
	req.AddCookie(&http.Cookie{Name: "fedwave_session", Value: tok})
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantError(t, s.Send(req), 403, "cross_origin")

	// The same request from the site itself works with the cookie.
	req, _ = http.NewRequest("PATCH", s.URL+"/api/v1/channels/ivan", strings.NewReader(`{"title":"ok"}`))
	req.AddCookie(&http.Cookie{Name: "fedwave_session", Value: tok})
	req.Header.Set("Origin", s.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := s.Send(req); r.Status != 200 {
		t.Fatalf("same-origin cookie request: %d %s", r.Status, r.Raw)
	}
}

func TestAuthRateLimit(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.AuthRate = 3 })
	// Malformed attempts are refused without a password check and cost
	// nothing.
	for range 5 {
		wantError(t, s.Do("POST", "/api/v1/register", map[string]string{"name": "x", "password": "password1"}, ""), 400, "invalid_name")
	}
	var last *apptest.Response
	for range 4 {
		last = s.Do("POST", "/api/v1/login", map[string]string{"name": "nobody", "password": "password1"}, "")
	}
	wantError(t, last, 429, "rate_limited")
	// A limit kept by the auth service: the default wait.
	if ra := last.Header.Get("Retry-After"); ra != "5" {
		t.Errorf("Retry-After %q, want 5", ra)
	}
}

func TestOperations(t *testing.T) {
	s := apptest.Start(t)
	if r := s.Do("GET", "/healthz", nil, ""); r.Status != 200 {
		t.Fatalf("healthz %d", r.Status)
	}
	if r := s.Do("GET", "/readyz", nil, ""); r.Status != 200 {
		t.Fatalf("readyz %d", r.Status)
	}
	s.Do("GET", "/api/v1/channels", nil, "")
	m := s.Do("GET", "/metrics", nil, "")
	if m.Status != 200 || !strings.Contains(string(m.Raw), `fedwave_http_requests_total{code="200",method="GET",route="GET /api/v1/channels"}`) ||
		!strings.Contains(string(m.Raw), "fedwave_http_request_duration_seconds_bucket") {
		t.Fatalf("metrics: %d %.2000s", m.Status, m.Raw)
	}
	// Through a proxy, loopback no longer counts: an admin token is needed.
	_, userTok := register(t, s, "judy", "password1")
	proxied := func(tok string) *apptest.Response {
		return s.Send(mustReq(t, "GET", s.URL+"/metrics", func(h http.Header) {
			h.Set("X-Forwarded-For", "203.0.113.9")
			if tok != "" {
				h.Set("Authorization", "Bearer "+tok)
			}
		}))
	}
	wantError(t, proxied(""), 401, "")
	wantError(t, proxied(userTok), 403, "")
	s.CreateUser("boss", "password1", auth.RoleAdmin)
	if r := proxied(s.Login("boss", "password1")); r.Status != 200 {
		t.Fatalf("admin metrics: %d", r.Status)
	}
}
