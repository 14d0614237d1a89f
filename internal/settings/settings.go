// Package settings holds the site settings an admin changes on /admin
// (name, description, rules, registration, guests, chat limits, accent
// colour). The flags give the starting values; once an admin saves, the
// saved values win, across restarts. The current values are one immutable
// snapshot behind an atomic pointer, so readers on hot paths pay one load
// and a save takes effect at the next action without a restart.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Bounds of the settings.
const (
	MaxNameLen        = 64   // characters
	MaxDescriptionLen = 500  // characters
	MaxRulesLen       = 5000 // characters
	MaxChatLength     = 4000 // as --chat-max-length
	MaxChatRate       = 1000 // messages per second
	MaxChatBurst      = 1000
)

// Values are the settings as an admin sees and sends them.
type Values struct {
	Name          string            `json:"name"`        // "" shows "FedWave"
	Description   string            `json:"description"` // plain text, on the home page
	Rules         string            `json:"rules"`       // chat Markdown, on /rules and /register
	Registration  auth.Registration `json:"registration"`
	Guests        bool              `json:"guests"`
	ChatMaxLength int               `json:"chatMaxLength"` // characters per message
	ChatRate      float64           `json:"chatRate"`      // messages per second per user, after the burst
	ChatBurst     int               `json:"chatBurst"`     // messages at once
	// AccentColor is the pages' accent (buttons, links), #rrggbb; ""
	// keeps the built-in one.
	AccentColor string `json:"accentColor"`
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// invalid is a refusal naming the field, so a form can show it there.
func invalid(field, format string, args ...any) error {
	return fail.New(fail.Invalid, "invalid_"+field, format, args...)
}

// Validate refuses values out of bounds, one field at a time; the error
// code is invalid_<field> (invalid_name, invalid_chat_rate…).
func (v *Values) Validate() error {
	for _, f := range []struct {
		field, label, text string
		max                int
		multiline          bool
	}{
		{"name", "The name", v.Name, MaxNameLen, false},
		{"description", "The description", v.Description, MaxDescriptionLen, true},
		{"rules", "The rules", v.Rules, MaxRulesLen, true},
	} {
		if !utf8.ValidString(f.text) || utf8.RuneCountInString(f.text) > f.max {
			return invalid(f.field, "%s is at most %d characters", f.label, f.max)
		}
		if strings.ContainsFunc(f.text, func(r rune) bool {
			return unicode.IsControl(r) && !(f.multiline && (r == '\n' || r == '\r' || r == '\t'))
		}) {
			return invalid(f.field, "%s has a control character", f.label)
		}
	}
	if v.Name != strings.TrimSpace(v.Name) {
		return invalid("name", "The name does not start or end with spaces")
	}
	if !v.Registration.Valid() {
		return invalid("registration", "Registration is open, invite or closed")
	}
	if v.ChatMaxLength < 1 || v.ChatMaxLength > MaxChatLength {
		return invalid("chat_max_length", "A chat message is from 1 to %d characters long", MaxChatLength)
	}
	if !(v.ChatRate >= 0.01 && v.ChatRate <= MaxChatRate) { // (NaN fails too)
		return invalid("chat_rate", "The chat rate is from 0.01 to %d messages a second", MaxChatRate)
	}
	if v.ChatBurst < 1 || v.ChatBurst > MaxChatBurst {
		return invalid("chat_burst", "The chat burst is from 1 to %d messages", MaxChatBurst)
	}
	if v.AccentColor != "" && !colorRE.MatchString(v.AccentColor) {
		return invalid("accent_color", "The accent colour is #rrggbb, e.g. #6d4aff, or empty for the default")
	}
	return nil
}

// Snapshot is the settings in force: never changed once made.
type Snapshot struct {
	Values
	RulesHTML template.HTML // Rules rendered by the chat markup (sanitised)
	Saved     bool          // an admin saved settings; else the flags'
}

// SiteName is the name to show: the setting, or "FedWave".
func (s *Snapshot) SiteName() string {
	if s.Name == "" {
		return "FedWave"
	}
	return s.Name
}

// OpenRegistrations reports whether anyone may sign up (NodeInfo).
func (s *Snapshot) OpenRegistrations() bool { return s.Registration == auth.RegistrationOpen }

// Deps is what the holder needs.
type Deps struct {
	Store    store.Site
	Defaults Values                   // from the flags
	Render   func(text string) string // the chat markup, for the rules
	// Apply pushes values into the services that keep their own copy
	// (accounts, chat); called at Open and after each save.
	Apply func(Values)
}

// Live is the holder of the current settings; safe for concurrent use.
type Live struct {
	d   Deps
	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex // one save at a time
}

// Open loads the saved settings over the defaults and applies them. A
// setting missing from the saved document (added in a later version)
// keeps its flag's value.
func Open(ctx context.Context, d Deps) (*Live, error) {
	if d.Apply == nil {
		d.Apply = func(Values) {}
	}
	l := &Live{d: d}
	v := d.Defaults
	data, err := d.Store.SiteSettings(ctx)
	if err != nil {
		return nil, err
	}
	if data != "" {
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, fmt.Errorf("saved site settings: %w", err)
		}
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("saved site settings: %w", err)
		}
	}
	l.set(v, data != "")
	return l, nil
}

// Get returns the settings in force.
func (l *Live) Get() *Snapshot { return l.cur.Load() }

func (l *Live) set(v Values, saved bool) *Snapshot {
	snap := &Snapshot{Values: v, Saved: saved}
	if l.d.Render != nil && v.Rules != "" {
		snap.RulesHTML = template.HTML(l.d.Render(v.Rules)) // sanitised by the markup
	}
	l.cur.Store(snap)
	l.d.Apply(v)
	return snap
}

// Save validates v, stores it and puts it in force; it returns the new
// snapshot and a short description of what changed (for the audit log).
func (l *Live) Save(ctx context.Context, v Values) (*Snapshot, string, error) {
	if err := v.Validate(); err != nil {
		return nil, "", err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.Get()
	if err := l.d.Store.SaveSiteSettings(ctx, string(data)); err != nil {
		return nil, "", err
	}
	return l.set(v, true), Changes(old.Values, v), nil
}

// Changes names the settings that differ, with the short ones' values.
func Changes(a, b Values) string {
	var out []string
	add := func(name string, differ bool, from, to any) {
		if differ {
			if from == nil {
				out = append(out, name)
			} else {
				out = append(out, fmt.Sprintf("%s: %v → %v", name, from, to))
			}
		}
	}
	add("name", a.Name != b.Name, fmt.Sprintf("%q", a.Name), fmt.Sprintf("%q", b.Name))
	add("description", a.Description != b.Description, nil, nil)
	add("rules", a.Rules != b.Rules, nil, nil)
	add("registration", a.Registration != b.Registration, a.Registration, b.Registration)
	add("guests", a.Guests != b.Guests, a.Guests, b.Guests)
	add("chat max length", a.ChatMaxLength != b.ChatMaxLength, a.ChatMaxLength, b.ChatMaxLength)
	add("chat rate", a.ChatRate != b.ChatRate, a.ChatRate, b.ChatRate)
	add("chat burst", a.ChatBurst != b.ChatBurst, a.ChatBurst, b.ChatBurst)
	add("accent colour", a.AccentColor != b.AccentColor, fmt.Sprintf("%q", a.AccentColor), fmt.Sprintf("%q", b.AccentColor))
	if len(out) == 0 {
		return "no change"
	}
	return strings.Join(out, "; ")
}
