// WebRTC helpers shared by the player (player.js, WHEP) and the studio
// (studio.js, WHIP): ICE servers, trickle ICE, and the contract's error
// bodies.

const FIRST_CANDIDATE_MS = 300; // the offer waits this long at most for a first ICE candidate

// iceConfig returns the ICE servers (TURN with fresh credentials) from the
// server; none when it cannot say.
export async function iceConfig() {
  try {
    const res = await fetch('/api/v1/ice', { credentials: 'same-origin' });
    if (!res.ok) return [];
    const body = await res.json();
    return Array.isArray(body.iceServers) ? body.iceServers : [];
  } catch {
    return [];
  }
}

// trickler implements trickle ICE (RFC 8840, RFC 9725 §4.3.1): the offer
// goes out with the candidates of its first moments, and the rest follow
// in PATCH requests to the session, so that a slow or unreachable STUN or
// TURN server does not hold the first frame back (waiting for the end of
// gathering took 3 s and more). Make it before setLocalDescription, so
// that it sees every candidate.
export function trickler(pc) {
  let pending = []; // candidate lines not sent yet; '' stands for the end
  let url = '';
  let headers = {};
  let sending = false;
  let first;
  const found = new Promise((resolve) => { first = resolve; });
  pc.addEventListener('icecandidate', (ev) => {
    const line = ev.candidate && ev.candidate.candidate ? ev.candidate.candidate : '';
    if (line || !pending.includes('')) pending.push(line);
    first();
    flush();
  });
  pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') first(); });

  async function flush() {
    if (!url || sending || pending.length === 0) return;
    if (pc.signalingState === 'closed') {
      pending = [];
      return;
    }
    const lines = pending;
    pending = [];
    sending = true;
    try {
      await fetch(url, {
        method: 'PATCH',
        headers: { ...headers, 'Content-Type': 'application/trickle-ice-sdpfrag' },
        body: fragment(pc.localDescription.sdp, lines),
      });
    } catch {
      // Lost candidates: the connection can still come up through the others.
    }
    sending = false;
    flush();
  }

  return {
    // ready waits for the first candidate (or the end of gathering), at
    // most FIRST_CANDIDATE_MS.
    ready: () => Promise.race([found, new Promise((resolve) => setTimeout(resolve, FIRST_CANDIDATE_MS))]),
    // offer is the offer to send now; the candidates it carries are not
    // sent again.
    offer() {
      const sdp = pc.localDescription.sdp;
      pending = pending.filter((line) => !line || !sdp.includes(line));
      return sdp;
    },
    // start sends the other candidates to the session at sessionURL, now
    // and as they come, with extra headers (a publisher's bearer token).
    start(sessionURL, extra) {
      url = sessionURL;
      headers = extra;
      flush();
    },
  };
}

// fragment is an RFC 8840 SDP fragment with the offer's ICE credentials,
// its first media section (the others are bundled on it) and candidate
// lines ('' for the end of candidates).
function fragment(sdp, lines) {
  const value = (name) => ((new RegExp(`^a=${name}:(.*)$`, 'm').exec(sdp) || [])[1] || '').trim();
  const media = (/^m=(\S+) /m.exec(sdp) || [])[1] || 'video';
  let body = `a=ice-ufrag:${value('ice-ufrag')}\r\na=ice-pwd:${value('ice-pwd')}\r\nm=${media} 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:${value('mid')}\r\n`;
  for (const line of lines) body += line ? `a=${line}\r\n` : 'a=end-of-candidates\r\n';
  return body;
}

// errorOf reads the contract's error body {error:{code,message}}, with
// the HTTP status.
export async function errorOf(res) {
  const body = await res.json().catch(() => ({}));
  const e = body && body.error ? body.error : {};
  return {
    status: res.status,
    code: typeof e.code === 'string' ? e.code : '',
    message: typeof e.message === 'string' && e.message ? e.message : `The server answered ${res.status}.`,
  };
}
