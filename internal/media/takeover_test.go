package media_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A second source of the same owner takes the channel over; the first
// learns it was replaced, with the time, when it asks about its session
// (as the studio does before reconnecting), and ending sessions that
// already ended is no error.
func TestTakeoverTellsTheReplacedPublisher(t *testing.T) {
	s, key, ownerTok := setup(t)
	first := publish(t, s.URL+"/whip/alpha", key, "vp8")
	waitFor(t, "the channel to go live", func() bool { return live(s) })
	firstLoc := first.res.Header.Get("Location")
	second := publish(t, s.URL+"/whip/alpha", ownerTok, "vp8")
	if second.res.StatusCode != http.StatusCreated {
		t.Fatalf("the owner's second source: %d", second.res.StatusCode)
	}
	send := func(method, loc, tok string) *http.Request {
		req, _ := http.NewRequest(method, s.URL+loc, strings.NewReader("a=end-of-candidates\r\n"))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return req
	}
	var r = s.Send(send("PATCH", firstLoc, key))
	for deadline := time.Now().Add(10 * time.Second); r.Status == http.StatusNoContent && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // the old session is closing
		r = s.Send(send("PATCH", firstLoc, key))
	}
	if r.Status != http.StatusConflict || r.ErrorCode() != "replaced" {
		t.Fatalf("PATCH on the replaced session: %d %s", r.Status, r.Raw)
	}
	msg := r.Body["error"].(map[string]any)["message"].(string)
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`).FindString(msg)
	if at, err := time.Parse(time.RFC3339, stamp); !strings.HasPrefix(msg, "Your stream was replaced by another source") || err != nil || time.Since(at) > time.Minute {
		t.Fatalf("the replaced publisher is told %q", msg)
	}
	if r := s.Send(send("PATCH", second.res.Header.Get("Location"), ownerTok)); r.Status != http.StatusNoContent {
		t.Fatalf("PATCH on the live session: %d %s", r.Status, r.Raw)
	}
	if r := s.Send(send("DELETE", firstLoc, key)); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE of the replaced session: %d %s", r.Status, r.Raw)
	}
	if !live(s) {
		t.Fatal("the channel went offline: the second source lost it")
	}

	v := watch(t, s.URL+"/whep/alpha", false)
	loc := v.res.Header.Get("Location")
	for i, want := range []int{http.StatusOK, http.StatusNoContent, http.StatusNoContent} {
		if r := s.Send(send("DELETE", loc, "")); r.Status != want {
			t.Fatalf("DELETE %d of a WHEP session: %d %s, want %d", i+1, r.Status, r.Raw, want)
		}
	}
	if r := s.Send(send("PATCH", loc, "")); r.Status != http.StatusNotFound {
		t.Fatalf("PATCH of an ended WHEP session: %d %s", r.Status, r.Raw)
	}
	if r := s.Send(send("DELETE", "/whep/alpha/0123456789abcdef01234567", "")); r.Status != http.StatusNotFound {
		t.Fatalf("DELETE of a session that never was: %d %s", r.Status, r.Raw)
	}
}
