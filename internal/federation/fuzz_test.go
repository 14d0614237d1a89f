package federation

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeEvent: no event body a peer sends makes the decoder panic, and
// what it accepts is bounded and valid as it will be stored and shown.
func FuzzDecodeEvent(f *testing.F) {
	for _, seed := range []string{
		`{"channel":"alice","kind":"message","message":{"id":7,"offset":3,"from":{"name":"bob","num":1234,"color":"#112233","instance":"b.example"},"text":"hi","ts":1800000000000}}`,
		`{"channel":"alice","kind":"delete","ids":[1,2,3]}`,
		`{"channel":"alice","kind":"presence","viewers":5,"chatters":["a#0001@a.example","b#0002@self.example"]}`,
		`{"channel":"alice","kind":"system","text":"x was banned"}`,
		`{"channel":"../x","kind":"message"}`,
		`{"channel":"alice","kind":"message","message":{"offset":-1}}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, ok := decodeEvent(body, "self.example", func(h string) bool { return h == "blocked.example" })
		if !ok {
			return
		}
		if len(ev.Text) > 500 || len(ev.IDs) > 1000 || len(ev.Chatters) > 200 || ev.Viewers < 0 {
			t.Fatalf("unbounded event: %+v", ev)
		}
		for _, c := range ev.Chatters {
			if strings.HasSuffix(c, "@self.example") {
				t.Fatalf("our own user kept our host: %q", c)
			}
		}
		if ev.Kind == "message" {
			m := ev.Message
			if m == nil || m.Offset <= 0 || !utf8.ValidString(m.Text) || len(m.Text) > maxText || m.Instance == "blocked.example" || m.Instance == "self.example" {
				t.Fatalf("accepted a bad message: %+v", m)
			}
		}
	})
}
