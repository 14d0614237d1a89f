#!/usr/bin/env bash
# sidebyside.sh runs FedWave, MediaMTX and Broadcast Box in turn on loopback
# under the same `fedwave loadtest` (one synthetic publisher, N WHEP viewers)
# and prints, per server: CPU per viewer-second (user + sys, read from
# /proc/PID/stat over the loadtest's measuring window), peak RSS per viewer
# (VmHWM / N), join p50/p99 and packets lost, then FedWave's figures as a
# ratio to each peer's.
#
# It never downloads anything: build the peers yourself from their sources
# and give their binaries' paths.
#
# Usage:
#   scripts/sidebyside.sh --mediamtx PATH --broadcast-box PATH [options]
# Options:
#   --fedwave PATH     FedWave binary (default: go build ./cmd/fedwave into a temp dir)
#   --loadtest PATH    binary whose `loadtest` drives all three (default: --fedwave's;
#                      it needs --whep-key, for Broadcast Box)
#   --viewers "20 100" viewer counts, one table per count (default "20 100")
#   --duration 10s     measuring window, once every viewer has joined
#   --codec h264       h264 or vp8
#   --bitrate 2500k    video bit rate (Opus adds 64k)
#   --port 18500       first of the loopback ports used (HTTP, then media)
#   --keep DIR         keep every server's log and loadtest report in DIR
# A peer given as "-" is skipped.
set -euo pipefail

FEDWAVE="" LOADTEST="" MEDIAMTX="" BBOX="" VIEWERS="20 100" DURATION=10s CODEC=h264 BITRATE=2500k PORT=18500 KEEP=""
while [ $# -gt 0 ]; do
	case "$1" in
	--fedwave) FEDWAVE=$2; shift 2 ;;
	--loadtest) LOADTEST=$2; shift 2 ;;
	--mediamtx) MEDIAMTX=$2; shift 2 ;;
	--broadcast-box) BBOX=$2; shift 2 ;;
	--viewers) VIEWERS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--codec) CODEC=$2; shift 2 ;;
	--bitrate) BITRATE=$2; shift 2 ;;
	--port) PORT=$2; shift 2 ;;
	--keep) KEEP=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "sidebyside: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [ -z "$MEDIAMTX" ] || [ -z "$BBOX" ]; then
	echo "sidebyside: give --mediamtx PATH and --broadcast-box PATH (or - to skip one)" >&2
	exit 2
fi
for b in "$MEDIAMTX" "$BBOX"; do
	if [ "$b" != "-" ] && [ ! -x "$b" ]; then
		echo "sidebyside: $b is not an executable" >&2
		exit 2
	fi
done

WORK=$(mktemp -d)
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "$FEDWAVE" ]; then
	FEDWAVE=$WORK/fedwave
	(cd "$(dirname "$0")/.." && go build -o "$FEDWAVE" ./cmd/fedwave)
fi
FEDWAVE=$(realpath "$FEDWAVE")
LOADTEST=$(realpath "${LOADTEST:-$FEDWAVE}")
[ "$MEDIAMTX" = "-" ] || MEDIAMTX=$(realpath "$MEDIAMTX")
[ "$BBOX" = "-" ] || BBOX=$(realpath "$BBOX")
HTTP_PORT=$PORT
MEDIA_PORT=$((PORT + 1))
TICKS=$(getconf CLK_TCK)
KEY=sidebyside_stream_key

# waitHTTP waits until something answers on the HTTP port (any status).
waitHTTP() {
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"; then return 0; fi
		if ! kill -0 "$PID" 2>/dev/null; then echo "sidebyside: the server exited, see $1" >&2; return 1; fi
		sleep 0.1
	done
	echo "sidebyside: the server did not answer on port $HTTP_PORT, see $1" >&2
	return 1
}

stopServer() {
	kill "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}

# start_fedwave makes a streamer and its stream key on a first run of the
# server, then starts a fresh process on the same data, so that the measured
# one has not hashed a password (argon2id holds 19 MiB while it runs).
start_fedwave() {
	local d=$WORK/fedwave-data
	rm -rf "$d" && mkdir -p "$d"
	local flags=(--data "$d" --http "127.0.0.1:$HTTP_PORT" --media-port "$MEDIA_PORT" --turn-port 0 --media-loopback
		--media-rate 100000 --log-level warn)
	printf 'sidebyside-password\n' | "$FEDWAVE" user create streamer --role streamer --password-stdin --data "$d" >/dev/null
	"$FEDWAVE" serve "${flags[@]}" >"$WORK/fedwave.log" 2>&1 &
	PID=$!
	waitHTTP "$WORK/fedwave.log"
	local tok
	tok=$(curl -sf -H 'Content-Type: application/json' -d '{"name":"streamer","password":"sidebyside-password"}' \
		"http://127.0.0.1:$HTTP_PORT/api/v1/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	KEY=$(curl -sf -X POST -H "Authorization: Bearer $tok" "http://127.0.0.1:$HTTP_PORT/api/v1/channels/streamer/stream-key" |
		sed -n 's/.*"streamKey":"\([^"]*\)".*/\1/p')
	stopServer
	"$FEDWAVE" serve "${flags[@]}" >>"$WORK/fedwave.log" 2>&1 &
	PID=$!
	waitHTTP "$WORK/fedwave.log"
	WHIP=http://127.0.0.1:$HTTP_PORT/whip/streamer
	WHEP=http://127.0.0.1:$HTTP_PORT/whep/streamer
	WHEP_KEY=""
}

start_mediamtx() {
	local conf=$WORK/mediamtx.yml
	cat >"$conf" <<-EOF
		logLevel: warn
		rtsp: false
		rtmp: false
		hls: false
		srt: false
		webrtc: true
		webrtcAddress: 127.0.0.1:$HTTP_PORT
		webrtcLocalUDPAddress: 127.0.0.1:$MEDIA_PORT
		webrtcIPsFromInterfaces: false
		webrtcAdditionalHosts: [127.0.0.1]
		authInternalUsers:
		- user: any
		  pass:
		  ips: []
		  permissions:
		  - action: publish
		    path:
		  - action: read
		    path:
		paths:
		  all_others:
	EOF
	(cd "$WORK" && exec "$MEDIAMTX" "$conf") >"$WORK/mediamtx.log" 2>&1 &
	PID=$!
	waitHTTP "$WORK/mediamtx.log"
	WHIP=http://127.0.0.1:$HTTP_PORT/streamer/whip
	WHEP=http://127.0.0.1:$HTTP_PORT/streamer/whep
	KEY=sidebyside_stream_key WHEP_KEY=""
}

start_broadcastbox() {
	local d=$WORK/bbox
	mkdir -p "$d" && : >"$d/.env.production"
	(cd "$d" && exec env HTTP_ADDRESS="127.0.0.1:$HTTP_PORT" UDP_MUX_PORT="$MEDIA_PORT" INCLUDE_LOOPBACK_CANDIDATE=true \
		DISABLE_FRONTEND=true DISABLE_STATUS=true LOGGING_ENABLED=false \
		LOGGING_LEVEL=WARN "$BBOX") >"$WORK/broadcastbox.log" 2>&1 &
	PID=$!
	waitHTTP "$WORK/broadcastbox.log"
	WHIP=http://127.0.0.1:$HTTP_PORT/api/whip
	WHEP=http://127.0.0.1:$HTTP_PORT/api/whep
	KEY=sidebyside_stream_key WHEP_KEY=$KEY
}

# cpuTicks prints the server's user and system CPU, in clock ticks.
cpuTicks() { awk '{print $14, $15}' "/proc/$PID/stat"; }

# measure runs the loadtest against the started server and prints one row:
# name viewers cpu_ms user_ms sys_ms rss_mib join_p50 join_p99 lost joined
measure() {
	local name=$1 n=$2 log=$WORK/$1-$2.txt
	local secs
	secs=$(awk -v d="$DURATION" 'BEGIN { sub(/s$/, "", d); print d + 0 }')
	"$LOADTEST" loadtest --whip "$WHIP" --whep "$WHEP" --key "$KEY" --whep-key "$WHEP_KEY" --viewers "$n" \
		--duration "$DURATION" --codec "$CODEC" --bitrate "$BITRATE" --metrics - >"$log" 2>"$log.progress" &
	local lt=$!
	# The measuring window starts when the loadtest says so; read the
	# server's CPU then and the window's length later.
	local before="" after="" t0 t1
	while kill -0 "$lt" 2>/dev/null; do
		if grep -qs 'measuring for' "$log.progress"; then
			before=$(cpuTicks) t0=$(date +%s.%N)
			sleep "$secs"
			after=$(cpuTicks) t1=$(date +%s.%N)
			break
		fi
		sleep 0.05
	done
	wait "$lt" || echo "sidebyside: loadtest against $name exited with an error, see $log.progress" >&2
	local hwm
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
	if [ -z "$before" ]; then
		printf '%s %s - - - - - - - 0\n' "$name" "$n"
		return
	fi
	awk -v name="$name" -v n="$n" -v b="$before" -v a="$after" -v t0="$t0" -v t1="$t1" -v hz="$TICKS" -v hwm="$hwm" '
		/^viewers / { joined = $2 }
		/^join / { p50 = $3; p99 = $5 }
		/^packets / { lost = $6 }
		END {
			split(b, x, " "); split(a, y, " ")
			vs = n * (t1 - t0)
			u = (y[1] - x[1]) * 1000 / hz / vs; s = (y[2] - x[2]) * 1000 / hz / vs
			printf "%s %d %.2f %.2f %.2f %.2f %s %s %s %s\n", name, n, u + s, u, s, hwm / 1024 / n, p50, p99, lost, joined
		}' "$log"
}

printf 'sidebyside: %s %s + Opus, %s per run, servers on 127.0.0.1:%s (HTTP) and :%s (media), %d cores\n' \
	"$CODEC" "$BITRATE" "$DURATION" "$HTTP_PORT" "$MEDIA_PORT" "$(nproc)"
for n in $VIEWERS; do
	rows=$WORK/rows-$n
	: >"$rows"
	for server in fedwave mediamtx broadcastbox; do
		case $server in
		mediamtx) [ "$MEDIAMTX" != "-" ] || continue ;;
		broadcastbox) [ "$BBOX" != "-" ] || continue ;;
		esac
		"start_$server"
		measure "$server" "$n" >>"$rows"
		stopServer
		sleep 1 # let the ports go
	done
	echo
	awk '
		{ name[NR] = $1; for (i = 2; i <= NF; i++) v[NR, i] = $i }
		END {
			printf "%-21s", v[1, 2] " viewers"; for (r = 1; r <= NR; r++) printf "%-28s", name[r]; print ""
			row("CPU ms/viewer-second ", 3, 1, "(u %s + s %s)")
			row("peak RSS MiB/viewer  ", 6, 0)
			row("join p50             ", 7, 0); row("join p99             ", 8, 0)
			row("lost packets         ", 9, 0); row("viewers with video   ", 10, 0)
			if (NR > 1) {
				print "FedWave as a ratio of each peer (lower is better):"
				for (r = 2; r <= NR; r++)
					printf "  to %-13s CPU %s  RSS %s  join p50 %s  p99 %s\n", name[r], ratio(v[1, 3], v[r, 3]),
						ratio(v[1, 6], v[r, 6]), ratio(v[1, 7], v[r, 7]), ratio(v[1, 8], v[r, 8])
			}
		}
		function row(label, i, split3, fmt,   r, s) {
			printf "%s", label
			for (r = 1; r <= NR; r++) {
				s = v[r, i]
				if (split3) s = s " " sprintf(fmt, v[r, 4], v[r, 5])
				printf "%-28s", s
			}
			print ""
		}
		function ratio(a, b) { a += 0; b += 0; return b > 0 ? sprintf("%.2f", a / b) : "-" }
	' "$rows"
done
