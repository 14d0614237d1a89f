package settings

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

func defaults() Values {
	return Values{Name: "Flag name", Registration: auth.RegistrationOpen, Guests: true, ChatMaxLength: 500, ChatRate: 1, ChatBurst: 5}
}

// The flags give the values until an admin saves; the saved ones win
// after a restart too, and a setting missing from the saved document keeps
// its flag's value.
func TestPrecedenceAndApply(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var applied []Values
	d := Deps{Store: st, Defaults: defaults(), Render: func(s string) string { return "<em>" + s + "</em>" }, Apply: func(v Values) { applied = append(applied, v) }}
	l, err := Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if g := l.Get(); g.Name != "Flag name" || g.Saved || len(applied) != 1 {
		t.Fatalf("before a save: %+v, applied %d", g, len(applied))
	}
	v := l.Get().Values
	v.Name, v.Registration, v.Rules, v.ChatMaxLength = "Saved", auth.RegistrationClosed, "be kind", 20
	snap, changes, err := l.Save(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if snap.RulesHTML != "<em>be kind</em>" || !snap.Saved || l.Get() != snap || applied[1].ChatMaxLength != 20 {
		t.Fatalf("after save: %+v", snap)
	}
	for _, want := range []string{`name: "Flag name" → "Saved"`, "registration: open → closed", "rules", "chat max length: 500 → 20"} {
		if !strings.Contains(changes, want) {
			t.Errorf("changes %q lack %q", changes, want)
		}
	}
	d.Defaults.Name, d.Defaults.ChatBurst = "Other flag", 9
	st.SaveSiteSettings(ctx, `{"name":"Saved","registration":"closed","guests":false,"chatMaxLength":20,"chatRate":1}`)
	l, err = Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if g := l.Get(); g.Name != "Saved" || g.Registration != auth.RegistrationClosed || g.Guests || g.ChatBurst != 9 {
		t.Fatalf("reopened: %+v", g.Values)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]func(*Values){
		"name":            func(v *Values) { v.Name = strings.Repeat("n", MaxNameLen+1) },
		"description":     func(v *Values) { v.Description = "a\x00b" },
		"rules":           func(v *Values) { v.Rules = strings.Repeat("r", MaxRulesLen+1) },
		"registration":    func(v *Values) { v.Registration = "maybe" },
		"chat_max_length": func(v *Values) { v.ChatMaxLength = 0 },
		"chat_rate":       func(v *Values) { v.ChatRate = math.NaN() },
		"chat_burst":      func(v *Values) { v.ChatBurst = MaxChatBurst + 1 },
		"accent_color":    func(v *Values) { v.AccentColor = "red" },
	}
	for field, spoil := range cases {
		v := defaults()
		spoil(&v)
		e, ok := fail.As(v.Validate())
		if !ok || e.Code != "invalid_"+field {
			t.Errorf("%s: %v", field, v.Validate())
		}
	}
	v := defaults()
	v.Rules, v.AccentColor = "line one\nline two", "#A0b1c2"
	if err := v.Validate(); err != nil {
		t.Errorf("good values refused: %v", err)
	}
}

// BenchmarkGetWhileSaving: what a reader pays per action (a page, a
// NodeInfo answer) while an admin saves.
func BenchmarkGetWhileSaving(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	l, err := Open(ctx, Deps{Store: st, Defaults: defaults()})
	if err != nil {
		b.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		v := defaults()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v.ChatBurst = 1 + i%100
			l.Save(ctx, v)
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Get().ChatBurst < 1 {
				b.Fatal("torn read")
			}
		}
	})
	close(stop)
	<-done
}
