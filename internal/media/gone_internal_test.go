package media

import (
	"fmt"
	"testing"
	"time"
)

// The memory of ended sessions keeps at most maxGone, for goneFor.
func TestGoneListBounded(t *testing.T) {
	var g goneList
	start := time.Now()
	for i := range maxGone + 100 {
		g.add(fmt.Sprint(i), goneSession{channel: "a", endedAt: start})
	}
	if len(g.byID) != maxGone || len(g.order) != maxGone {
		t.Fatalf("%d sessions remembered (%d in order), want %d", len(g.byID), len(g.order), maxGone)
	}
	if _, ok := g.byID["0"]; ok {
		t.Fatal("the oldest session is still remembered")
	}
	g.add("late", goneSession{channel: "a", endedAt: start.Add(goneFor + time.Second)})
	if len(g.byID) != 1 {
		t.Fatalf("%d sessions remembered after %v", len(g.byID), goneFor)
	}
}
