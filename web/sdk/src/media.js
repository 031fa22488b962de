// WebRTC for one published or subscribed stream. Media goes between the browser and the
// room's Janus server; the SDP travels over the signalling socket (publish / subscribe /
// signaling_message), so the page never talks to Janus itself.

import { TKError, mediaErrorCode } from "./errors.js";

const GATHER_TIMEOUT_MS = 3000;

/** Resolves once ICE gathering is complete (or after a bound): the SDP then carries every candidate. */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

function description(obj) {
  // The server may name the SDP `answer`, `offer`, `jsep` or `sdp`; accept any of them.
  const d = obj && (obj.answer || obj.offer || obj.jsep || obj.sdp || obj.msg);
  if (!d) return null;
  return typeof d === "string" ? null : { type: d.type, sdp: d.sdp };
}

function newPeerConnection(iceServers) {
  // No STUN by default: a public STUN server would mean look-ups that fail offline.
  return new RTCPeerConnection({ iceServers: iceServers || [] });
}

/**
 * Asks the browser for one kind of device. Each kind is asked for on its own so a failure
 * names the right code (the seed has separate microphone and camera codes).
 */
export async function acquireTrack(kind, constraints) {
  const md = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
  if (!md || typeof md.getUserMedia !== "function") {
    throw new TKError(mediaErrorCode(new TypeError("mediaDevices unavailable"), kind), undefined, {
      kind,
      browserError: "TypeError",
    });
  }
  try {
    const stream = await md.getUserMedia({ [kind]: constraints === undefined ? true : constraints });
    const track = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    if (!track) throw new DOMException("no track", "NotFoundError");
    return track;
  } catch (err) {
    const code = mediaErrorCode(err, kind);
    throw new TKError(code, undefined, { kind, browserError: err && err.name, detail: err && err.message });
  }
}

export class Publisher {
  /** @param {import("./connection.js").Connection} conn */
  constructor(conn, stream, type, iceServers) {
    this.conn = conn;
    this.stream = stream;
    this.type = type;
    this.pc = newPeerConnection(iceServers);
    this.streamId = null;
    this.onfailed = null;
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc.connectionState === "failed" && this.onfailed) this.onfailed(this);
    });
  }

  async start() {
    for (const track of this.stream.getTracks()) {
      this.pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await gathered(this.pc);
    const local = this.pc.localDescription;
    const ack = await this.conn.request("publish", {
      type: this.type,
      deviceId: "default",
      jsep: { type: local.type, sdp: local.sdp },
    });
    this.streamId = ack.streamId || null;
    const answer = description(ack);
    if (!answer) throw new TKError(2526, "The server answered publish without an SDP answer");
    await this.pc.setRemoteDescription(answer);
    return this;
  }

  /** A trickled candidate or a renegotiation from the media server. */
  async onServerMessage(msg) {
    if (msg && msg.candidate) await this.pc.addIceCandidate(msg).catch(() => {});
  }

  async stop(tellServer = true) {
    this.onfailed = null;
    if (tellServer && this.streamId && this.conn.connected) {
      await this.conn.request("unpublish", { streamId: this.streamId }).catch(() => {});
    }
    this.pc.close();
  }
}

export class Subscriber {
  constructor(conn, info, iceServers) {
    this.conn = conn;
    this.info = info; // {streamId, userId, type, deviceId, audio, video}
    this.subscriptionId = null;
    this.pc = newPeerConnection(iceServers);
    this.stream = new MediaStream();
    this.onfailed = null;
    this.pc.addEventListener("track", (ev) => this.stream.addTrack(ev.track));
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc.connectionState === "failed" && this.onfailed) this.onfailed(this);
    });
  }

  get streamId() {
    return this.info.streamId;
  }

  async start() {
    const ack = await this.conn.request("subscribe", { streamId: this.streamId });
    this.subscriptionId = ack.subscriptionId || null;
    const offer = description(ack);
    if (!offer) throw new TKError(2528, "The server answered subscribe without an SDP offer");
    await this.pc.setRemoteDescription(offer);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await gathered(this.pc);
    const local = this.pc.localDescription;
    await this.conn.request("signaling_message", {
      subscriptionId: this.subscriptionId,
      streamId: this.streamId,
      jsep: { type: local.type, sdp: local.sdp },
    });
    return this;
  }

  async onServerMessage(msg) {
    if (msg && msg.candidate) await this.pc.addIceCandidate(msg).catch(() => {});
  }

  /** Decoded-frame and audio counters, from getStats. */
  async stats() {
    const out = { framesDecoded: 0, frameWidth: 0, audioEnergy: 0, audioSamples: 0, bytesReceived: 0 };
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      out.bytesReceived += s.bytesReceived || 0;
      if (s.kind === "video") {
        out.framesDecoded += s.framesDecoded || 0;
        out.frameWidth = Math.max(out.frameWidth, s.frameWidth || 0);
      } else if (s.kind === "audio") {
        out.audioEnergy += s.totalAudioEnergy || 0;
        out.audioSamples += s.totalSamplesReceived || 0;
      }
    });
    return out;
  }

  async stop(tellServer = true) {
    this.onfailed = null;
    if (tellServer && this.subscriptionId && this.conn.connected) {
      await this.conn.request("unsubscribe", { subscriptionId: this.subscriptionId }).catch(() => {});
    }
    this.pc.close();
  }
}
