package browsertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ), 100 on
// every Linux machine that FedWave's tests run on.
const clockTick = 10 * time.Millisecond

// CPU returns the user and system CPU time that the browser's processes
// (the main one and its helpers) have used so far, read from /proc; zero
// where there is none. Processes that ended meanwhile no longer count, so
// compare two readings over a span in which none ends.
func (b *Browser) CPU() (user, system time.Duration) {
	for _, pid := range processesUsing(b.profileDir) {
		u, s, ok := procCPU(pid)
		if ok {
			user += u
			system += s
		}
	}
	return user, system
}

// procCPU reads one process's user and system time from /proc/PID/stat.
func procCPU(pid int) (user, system time.Duration, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) may hold spaces: the fields after it
	// start after the last ')'. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return time.Duration(u) * clockTick, time.Duration(s) * clockTick, true
}
