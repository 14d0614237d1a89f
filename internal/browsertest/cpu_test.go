package browsertest

import (
	"os"
	"testing"
	"time"
)

func TestProcCPU(t *testing.T) {
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		// busy: some CPU time to read
	}
	user, system, ok := procCPU(os.Getpid())
	if !ok || user+system <= 0 {
		t.Fatalf("procCPU(self) = %v, %v, %v; want a positive time", user, system, ok)
	}
	if _, _, ok := procCPU(-1); ok {
		t.Fatal("procCPU(-1) found a process")
	}
}
