package chat

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/store"
)

// The wire protocol is described in CONTRACT §4 and PROTOCOL.md beside this
// file.

// inFrame is any client frame; which fields count depends on Type.
type inFrame struct {
	Type    string          `json:"type"`
	Token   string          `json:"token"`
	Channel string          `json:"channel"`
	After   *int64          `json:"after"`
	Text    string          `json:"text"`
	Nonce   json.RawMessage `json:"nonce"`
	To      string          `json:"to"`
	ID      json.RawMessage `json:"id"`
}

// From is the sender of a message as clients see it.
type From struct {
	Handle   string `json:"handle"`
	Color    string `json:"color"`
	Avatar   string `json:"avatar"`
	Instance string `json:"instance"`
}

// Message is a chat message frame; the REST history returns the same shape.
type Message struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	ID      string `json:"id"`
	Offset  int64  `json:"offset"`
	From    From   `json:"from"`
	HTML    string `json:"html"`
	TS      string `json:"ts"`
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func messageFrame(m *store.Message) Message {
	return Message{
		Type:    "message",
		Channel: m.Channel,
		ID:      strconv.FormatInt(m.ID, 10),
		Offset:  m.Offset,
		From:    From{Handle: m.Handle, Color: m.Color, Avatar: m.Avatar, Instance: m.Instance},
		HTML:    m.HTML,
		TS:      timestamp(m.TS),
	}
}

func fromUser(u *store.User) From {
	return From{Handle: auth.Handle(u.Name, u.Num), Color: u.Color, Avatar: u.Avatar, Instance: u.Instance}
}

type welcomeFrame struct {
	Type string        `json:"type"`
	User auth.UserView `json:"user"`
}

type ackFrame struct {
	Type   string          `json:"type"`
	Nonce  json.RawMessage `json:"nonce"`
	ID     string          `json:"id"`
	Offset int64           `json:"offset"`
}

type whisperFrame struct {
	Type string `json:"type"`
	From From   `json:"from"`
	To   string `json:"to"`
	HTML string `json:"html"`
	TS   string `json:"ts"`
}

type presenceFrame struct {
	Type     string   `json:"type"`
	Channel  string   `json:"channel"`
	Viewers  int      `json:"viewers"`
	Chatters []string `json:"chatters"`
}

type deleteFrame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	ID      string `json:"id"`
}

type systemFrame struct {
	Type    string `json:"type"`
	Channel string `json:"channel,omitempty"`
	Text    string `json:"text"`
}

type errorFrame struct {
	Type    string          `json:"type"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Nonce   json.RawMessage `json:"nonce,omitempty"`
}

type liveFrame struct {
	Type    string `json:"type"`
	Channel any    `json:"channel"`
}

// encode marshals a frame once; the bytes are shared by every recipient.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only our own frame types reach here; they always marshal
		return []byte(`{"type":"error","code":"internal","message":"the server could not encode a frame"}`)
	}
	return b
}
