// Capture helpers of the studio (studio.js): constraints, mixing several
// sounds into one track, stopping captures, and what to tell the streamer
// when a device fails.

export function micConstraints(id) {
  return { ...(id ? { deviceId: { exact: id } } : {}), echoCancellation: true, noiseSuppression: true };
}

// mix makes one audio track of several (screen sound and microphone).
export function mix(tracks) {
  if (tracks.length <= 1) return { track: tracks[0] || null, ctx: null };
  const ctx = new AudioContext();
  const dest = ctx.createMediaStreamDestination();
  for (const t of tracks) ctx.createMediaStreamSource(new MediaStream([t])).connect(dest);
  return { track: dest.stream.getAudioTracks()[0], ctx };
}

export function stopStreams(streams) {
  for (const s of streams) for (const t of s.getTracks()) t.stop();
}

// captureError says why a camera, microphone or screen could not be used.
export function captureError(err, what) {
  switch (err && err.name) {
    case 'NotAllowedError': return `The browser was not allowed to use the ${what}. Allow it in the address bar and choose again.`;
    case 'NotFoundError': return `No ${what} was found.`;
    case 'NotReadableError': return `The ${what} is busy in another program.`;
    case 'OverconstrainedError': return `That ${what} is not available any more; choose another.`;
    default: return err && err.message ? err.message : `The ${what} could not be opened.`;
  }
}
