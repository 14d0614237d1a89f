package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestAckedMessagesSurviveSIGKILL: every message the server acknowledged is
// there after the process is killed without warning and restarted.
func TestAckedMessagesSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCLI(t, "password1\n", "user", "create", "alpha", "--role", "streamer", "--password-stdin", "--data", dir); err != nil {
		t.Fatalf("%s %v", out, err)
	}
	base, cmd, _ := startChildOutput(t, dir, "--chat-rate", "10000", "--chat-burst", "10000")
	token := loginToken(t, base, "alpha")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "auth", "token": token})

	// Pipeline 300 messages, then collect the acks.
	const n = 300
	for i := range n {
		send(map[string]any{"type": "send", "channel": "alpha", "text": fmt.Sprintf("msg %d", i), "nonce": fmt.Sprintf("n%d", i)})
	}
	acked := map[string]bool{}
	for len(acked) < n {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("after %d acks: %v", len(acked), err)
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) { // one frame a line (CONTRACT §4)
			var f map[string]any
			json.Unmarshal(line, &f)
			switch f["type"] {
			case "ack":
				acked[f["id"].(string)] = true
			case "error":
				t.Fatalf("error frame %v", f)
			}
		}
	}
	// No warning, no shutdown: the process just dies.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	base2, _, _ := startChildOutput(t, dir)
	res, err := http.Get(base2 + "/api/v1/channels/alpha/messages?after=0&limit=500")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Messages []struct {
			ID     string `json:"id"`
			Offset int64  `json:"offset"`
		} `json:"messages"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	stored := map[string]bool{}
	for i, m := range body.Messages {
		stored[m.ID] = true
		if m.Offset != int64(i+1) {
			t.Fatalf("offsets not continuous: message %d has offset %d", i, m.Offset)
		}
	}
	for id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged message %s lost (%d of %d stored)", id, len(stored), len(acked))
		}
	}
}

func loginToken(t *testing.T, base, name string) string {
	t.Helper()
	res, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"name":"`+name+`","password":"password1"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	defer res.Body.Close()
	var body struct{ Token string }
	json.NewDecoder(res.Body).Decode(&body)
	return body.Token
}
