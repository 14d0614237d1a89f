package chat_test

import (
	"context"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/fedwave/fedwave/internal/app/apptest"
)

func t0() context.Context { return context.Background() }

func dialRaw(s *apptest.Server, h http.Header) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(s.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
}
