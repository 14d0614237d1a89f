#!/usr/bin/env python3
"""A minimal WHIP publisher on GStreamer's webrtcbin, for interop tests.

Usage: whip_gst.py [WHIP_URL [TOKEN]]   (or env WHIP_URL and WHIP_TOKEN)

It sends a VP8 test picture and an Opus test tone, prints "published" once
the server has answered, and runs until standard input closes or SIGTERM
arrives; then it DELETEs the session and exits 0. Errors go to stderr and
exit nonzero. Only the standard library and PyGObject (gi) are used.

Written for Debian 12's GStreamer 1.22 and its Python binding, which have two
traps (see wait_for_caps and create_offer below):
  * create-offer before every webrtcbin sink pad has caps yields an offer
    without those media, so we wait for caps first;
  * the offer taken from the create-offer promise's reply structure is
    freed together with that structure, so the reply is kept referenced for
    as long as the offer is used.
"""

import os
import select
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstSdp, GstWebRTC  # noqa: E402

# The caps after each payloader name the media, codec and payload type, so
# that each request pad on webrtcbin becomes a transceiver for that codec
# (without them both payloaders pick 96, and the offer repeats it).
PIPELINE = (
    "webrtcbin name=wb bundle-policy=max-bundle "
    "videotestsrc is-live=true pattern=ball ! videoconvert "
    "! video/x-raw,width=320,height=240,framerate=30/1 "
    "! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay "
    "! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000 "
    "! wb. "
    "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample "
    "! opusenc ! rtpopuspay "
    "! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 "
    "! wb. "
)

CAPS_TIMEOUT = 20  # seconds for the encoders to produce caps
GATHER_TIMEOUT = 10  # seconds for ICE gathering; the offer goes out anyway then
HTTP_TIMEOUT = 20


class Failure(Exception):
    pass


class Stop(Exception):
    """Raised by the SIGTERM handler to leave the run loop."""


def log(msg):
    print("whip_gst: " + msg, file=sys.stderr, flush=True)


def check_bus(pipeline):
    """Raise Failure on an error posted by any element."""
    bus = pipeline.get_bus()
    while True:
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        if msg is None:
            return
        err, dbg = msg.parse_error()
        raise Failure("pipeline error from %s: %s (%s)" % (msg.src.get_name(), err.message, dbg))


def wait_for_caps(pipeline, wb):
    """Trap 1: webrtcbin 1.22 builds each m-line from the caps on its sink
    pad. Asked for an offer before the encoders have negotiated (that can
    take a couple of seconds after PLAYING on a busy machine), it may answer
    at once with an offer that has no m-lines at all. So poll until every
    sink pad carries caps; create_offer checks the result too."""
    deadline = time.monotonic() + CAPS_TIMEOUT
    while True:
        check_bus(pipeline)
        pads = list(wb.iterate_sink_pads())
        if len(pads) == 2 and all(p.get_current_caps() is not None for p in pads):
            return
        if time.monotonic() > deadline:
            raise Failure("no caps on webrtcbin's sink pads after %d s" % CAPS_TIMEOUT)
        time.sleep(0.1)


def make_sendonly(wb):
    """The request pads made transceivers that would also receive: a WHIP
    publisher only sends."""
    i = 0
    while True:
        tr = wb.emit("get-transceiver", i)
        if tr is None:
            return
        tr.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        i += 1


def run_promise(wb, signal_name, *args):
    """Emits a promise-taking webrtcbin action signal and waits for it;
    returns the promise, whose reply the caller must keep referenced."""
    promise = Gst.Promise.new()
    wb.emit(signal_name, *args, promise)
    if promise.wait() != Gst.PromiseResult.REPLIED:
        raise Failure("%s: promise not replied" % signal_name)
    reply = promise.get_reply()
    if reply is not None and reply.has_field("error"):
        raise Failure("%s: %s" % (signal_name, reply.get_value("error")))
    return promise


def create_offer(wb):
    """Trap 2: the offer is a boxed value inside the reply structure, which
    the promise owns. With the 1.22 binding, dropping our reference to the
    reply (or the promise) frees the structure and the offer with it: the
    offer's .sdp then reads back as None (or worse, freed memory). So the
    promise and reply are returned together with the offer, and the caller
    holds on to them until it no longer needs the offer."""
    promise = run_promise(wb, "create-offer", None)
    reply = promise.get_reply()
    if reply is None:
        raise Failure("create-offer: empty reply")
    offer = reply.get_value("offer")
    if offer is None:
        raise Failure("create-offer: no offer in reply")
    mlines = [line for line in offer.sdp.as_text().splitlines() if line.startswith("m=")]
    if len(mlines) != 2:
        raise Failure("create-offer: want video and audio, got %s" % (mlines or "no media"))
    return offer, (promise, reply)


def wait_for_gathering(pipeline, wb):
    """WHIP without trickle: the offer goes out with every candidate in it."""
    deadline = time.monotonic() + GATHER_TIMEOUT
    while wb.get_property("ice-gathering-state") != GstWebRTC.WebRTCICEGatheringState.COMPLETE:
        check_bus(pipeline)
        if time.monotonic() > deadline:
            log("ICE gathering not complete after %d s; sending what we have" % GATHER_TIMEOUT)
            return
        time.sleep(0.05)


def http(method, url, token, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def publish(pipeline, wb, url, token):
    """Offer, POST, answer; returns the session's absolute URL."""
    offer, keep = create_offer(wb)
    run_promise(wb, "set-local-description", offer)
    del offer, keep  # webrtcbin holds its own copy of the description now

    wait_for_gathering(pipeline, wb)
    sdp = wb.get_property("local-description").sdp.as_text()

    status, headers, body = http("POST", url, token, sdp.encode())
    if status != 201:
        raise Failure("POST %s: %d %s" % (url, status, body.decode(errors="replace").strip()))
    location = headers.get("Location")
    if not location:
        raise Failure("POST %s: 201 without a Location header" % url)

    ok, msg = GstSdp.SDPMessage.new_from_text(body.decode())
    if ok != GstSdp.SDPResult.OK:
        raise Failure("answer is not SDP: %s" % body[:200])
    answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
    run_promise(wb, "set-remote-description", answer)
    return urllib.parse.urljoin(url, location)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WHIP_URL", "")
    token = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("WHIP_TOKEN", "")
    if not url or not token:
        log("usage: whip_gst.py WHIP_URL TOKEN (or env WHIP_URL, WHIP_TOKEN)")
        return 2

    def on_term(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_term)

    Gst.init(None)
    pipeline = Gst.parse_launch(PIPELINE)
    wb = pipeline.get_by_name("wb")
    session = None
    code = 0
    try:
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise Failure("the pipeline would not start")
        wait_for_caps(pipeline, wb)
        make_sendonly(wb)
        session = publish(pipeline, wb, url, token)
        print("published " + session, flush=True)

        # Run until stdin closes or SIGTERM, watching for pipeline errors.
        # (No reader thread: one blocked in a read of stdin makes the
        # interpreter abort at exit.)
        fd = sys.stdin.fileno()
        while True:
            check_bus(pipeline)
            readable, _, _ = select.select([fd], [], [], 0.2)
            if readable and not os.read(fd, 4096):
                break
    except Stop:
        pass
    except (Failure, OSError) as e:  # OSError: urllib's connection refused etc.
        log(str(e))
        code = 1
    # A second SIGTERM must not cut the teardown short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pipeline.set_state(Gst.State.NULL)
    if session is not None:
        try:
            status, _, body = http("DELETE", session, token)
            if status // 100 != 2:
                raise Failure("DELETE %s: %d %s" % (session, status, body.decode(errors="replace").strip()))
        except (Failure, OSError) as e:
            log(str(e))
            code = 1
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Stop:  # SIGTERM before the pipeline existed
        sys.exit(0)
