package relays

import "time"

// The control link between a relay and its origin: one WebSocket,
// GET /api/v1/relays/link with the relay's token as bearer, JSON text
// messages. See PROTOCOL.md.

// Relay → origin.

// Hello is a relay's first message.
type Hello struct {
	Type     string `json:"type"` // "hello", first
	URL      string `json:"url"`  // its --public-url
	Capacity int    `json:"capacity"`
}

// Status is a relay's report, every Heartbeat.
type Status struct {
	Type     string                   `json:"type"` // "status", every Heartbeat
	Channels map[string]ChannelStatus `json:"channels"`
	Loss     float64                  `json:"loss"` // toward its viewers, from their receiver reports
}

// ChannelStatus is what a relay reports of one channel it serves.
type ChannelStatus struct {
	Viewers int  `json:"viewers"` // persons
	Pulling bool `json:"pulling"`
}

// Bye is a relay's goodbye before it closes: a clean leave, not a failure.
type Bye struct {
	Type string `json:"type"` // "bye"
}

// Origin → relay.
// Assign tells a relay its parent.
type Assign struct {
	Type   string `json:"type"` // "assign"
	Parent Parent `json:"parent"`
}

// Parent is where a relay pulls its streams from.
type Parent struct {
	Name   string `json:"name"` // "" for the origin
	URL    string `json:"url"`
	Ticket string `json:"ticket,omitempty"` // admits it to a parent relay
}

// Revoked tells a relay its token was revoked.
type Revoked struct {
	Type    string `json:"type"` // "revoked", then the origin closes
	Message string `json:"message"`
}

// Heartbeat is how often a relay reports; the origin stops placing on a
// relay it has not heard from for a few of them.
const Heartbeat = 250 * time.Millisecond
