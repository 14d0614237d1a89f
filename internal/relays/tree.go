package relays

import (
	"sort"
	"strings"
)

// Node is a node of a channel's tree (CONTRACT §5a): the origin, relays,
// linked instances pulling the channel; plain viewers are counted, not
// listed.
type Node struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // origin, relay, instance, browser
	Name     string `json:"name"`
	Viewers  int    `json:"viewers"` // its own direct viewers
	Children []Node `json:"children"`
}

// Tree is channel's tree: here is the origin's own viewers of it; linked
// instances come from the audience's counts elsewhere.
func (s *Service) Tree(channel, origin string, here int) Node {
	parents := map[string]string{}
	for _, n := range s.tree.Relays() {
		if n.Connected {
			parents[n.Name] = n.Parent
		}
	}
	// The relays carrying the channel, by parent.
	byParent := map[string][]Node{}
	s.mu.Lock()
	for name, l := range s.links {
		parent, ok := parents[name]
		if !ok {
			continue
		}
		l.mu.Lock()
		c, carries := l.channels[channel]
		l.mu.Unlock()
		if carries && (c.Pulling || c.Viewers > 0) {
			byParent[parent] = append(byParent[parent], Node{ID: "relay:" + name, Kind: "relay", Name: name, Viewers: c.Viewers})
		}
	}
	s.mu.Unlock()
	root := Node{ID: "origin", Kind: "origin", Name: origin, Viewers: here, Children: grow(byParent, "", 0)}
	for host, n := range s.cfg.Audience.Elsewheres(channel) {
		if !strings.HasPrefix(host, "relay:") {
			root.Children = append(root.Children, Node{ID: "instance:" + host, Kind: "instance", Name: host, Viewers: n, Children: []Node{}})
		}
	}
	sort.Slice(root.Children, func(i, j int) bool { return root.Children[i].ID < root.Children[j].ID })
	return root
}

// grow returns the children of parent with theirs; depth stops a cycle
// the tree never makes from looping here.
func grow(byParent map[string][]Node, parent string, depth int) []Node {
	kids := byParent[parent]
	out := make([]Node, 0, len(kids))
	if depth > 64 {
		return out
	}
	for _, k := range kids {
		k.Children = grow(byParent, k.Name, depth+1)
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
