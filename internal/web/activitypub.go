package web

import (
	"net/http"

	"github.com/fedwave/fedwave/internal/activitypub"
)

// activityPubRoutes serves the fediverse side (CONTRACT §6a): discovery,
// the channels' actors and their inboxes. Without the service (a relay
// process) none of it exists.
func activityPubRoutes(mux *http.ServeMux, ap *activitypub.Service) {
	if ap == nil {
		return
	}
	mux.HandleFunc("GET /.well-known/webfinger", ap.WebFinger)
	mux.HandleFunc("GET /.well-known/nodeinfo", ap.NodeInfoLinks)
	mux.HandleFunc("GET /nodeinfo/2.1", ap.NodeInfo)
	mux.HandleFunc("GET /ap/actor", ap.InstanceActor)
	mux.HandleFunc("GET /ap/channels/{name}", ap.Actor)
	mux.HandleFunc("GET /ap/channels/{name}/outbox", ap.Outbox)
	mux.HandleFunc("GET /ap/channels/{name}/posts/{id}", ap.Post)
	mux.HandleFunc("GET /ap/channels/{name}/followers", ap.Followers)
	mux.HandleFunc("POST /ap/channels/{name}/inbox", ap.Inbox)
	mux.HandleFunc("POST /ap/inbox", ap.Inbox)
}
