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

/**
 * A camera as three simulcast layers, highest first as Janus's janus.js sends them: the media
 * server forwards one of them to each subscriber (docs/media.md, "Simulcast and adaptation").
 * The bitrates keep the low layer under ~150 kbit/s so a 300 kbit/s student still gets video.
 */
export const SIMULCAST_ENCODINGS = [
  { rid: "h", active: true, maxBitrate: 1200000 },
  { rid: "m", active: true, maxBitrate: 450000, scaleResolutionDownBy: 2 },
  { rid: "l", active: true, maxBitrate: 150000, scaleResolutionDownBy: 4 },
];

/** Subscription layer names, as setVideoLayer takes them. */
export const LAYERS = ["low", "medium", "high"];

/**
 * Janus offers `a=setup:actpass`; answering `passive` makes Janus the DTLS client, so its
 * ClientHello leaves once its DTLS stack is ready (as the Python SDK does; see docs/media.md).
 */
export function passiveAnswer(offerSdp, answer) {
  if (!/a=setup:actpass/.test(offerSdp)) return answer;
  return { type: answer.type, sdp: answer.sdp.replace(/a=setup:active/g, "a=setup:passive") };
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
  /**
   * @param {import("./connection.js").Connection} conn
   * @param {{simulcast?: boolean}} options simulcast: send a camera as three layers
   */
  constructor(conn, stream, type, iceServers, options = {}) {
    this.conn = conn;
    this.stream = stream;
    this.type = type;
    this.simulcast = Boolean(options.simulcast) && type === "video";
    this.pc = newPeerConnection(iceServers);
    this.streamId = null;
    this.onfailed = null;
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc.connectionState === "failed" && this.onfailed) this.onfailed(this);
    });
  }

  async start() {
    for (const track of this.stream.getTracks()) {
      const init = { direction: "sendonly", streams: [this.stream] };
      if (track.kind === "video" && this.simulcast) init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
      const transceiver = this.pc.addTransceiver(track, init);
      if (track.kind === "video" && this.type === "screen") await keepResolution(transceiver.sender);
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
    this.publicationId = ack.publicationId || null; // this attempt: notices about others are stale
    const answer = description(ack);
    if (!answer) throw new TKError(2526, "The server answered publish without an SDP answer");
    await this.pc.setRemoteDescription(answer);
    return this;
  }

  /** The layers the browser is sending now (rid, width, fps), from getStats: diagnostics. */
  async layers() {
    const out = [];
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.push({ rid: s.rid || null, width: s.frameWidth || 0, height: s.frameHeight || 0, fps: s.framesPerSecond || 0, active: s.active !== false });
      }
    });
    return out;
  }

  /** A trickled candidate or a renegotiation from the media server. */
  async onServerMessage(msg) {
    if (msg && msg.candidate) await this.pc.addIceCandidate(msg).catch(() => {});
  }

  async stop(tellServer = true) {
    this.onfailed = null;
    if (tellServer && this.streamId && this.conn.connected) {
      const req = { streamId: this.streamId };
      if (this.publicationId) req.publicationId = this.publicationId; // never a newer attempt
      await this.conn.request("unpublish", req).catch(() => {});
    }
    this.pc.close();
  }
}

/**
 * A screen share keeps its resolution and gives up frame rate when bandwidth is short: text on
 * a slide stays readable. One encoding, no simulcast.
 */
async function keepResolution(sender) {
  if (sender.track) sender.track.contentHint = "detail";
  try {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    await sender.setParameters(params);
  } catch (err) {
    // Older browsers refuse degradationPreference; contentHint alone still biases the encoder.
  }
}

export class Subscriber {
  /** @param {{dtlsPassive?: boolean}} options dtlsPassive false: keep the browser's own DTLS role */
  constructor(conn, info, iceServers, options = {}) {
    this.conn = conn;
    this.dtlsPassive = options.dtlsPassive !== false;
    this.info = info; // {streamId, userId, type, deviceId, audio, video, simulcast}
    this.subscriptionId = null;
    this.layer = null; // the layer the media server forwards (simulcast streams), or null
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

  /** @param {string} [layer] "high" | "medium" | "low": the simulcast layer to start with */
  async start(layer) {
    const req = { streamId: this.streamId };
    if (layer) req.layer = layer;
    const ack = await this.conn.request("subscribe", req);
    this.subscriptionId = ack.subscriptionId || null;
    this.layer = ack.layer || null;
    const offer = description(ack);
    if (!offer) throw new TKError(2528, "The server answered subscribe without an SDP offer");
    await this.pc.setRemoteDescription(offer);
    const made = await this.pc.createAnswer();
    const answer = this.dtlsPassive ? passiveAnswer(offer.sdp, made) : made;
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
    const out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0, framesPerSecond: 0, audioEnergy: 0, audioSamples: 0, bytesReceived: 0, layer: this.layer };
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      out.bytesReceived += s.bytesReceived || 0;
      if (s.kind === "video") {
        out.framesDecoded += s.framesDecoded || 0;
        out.frameWidth = Math.max(out.frameWidth, s.frameWidth || 0);
        out.frameHeight = Math.max(out.frameHeight, s.frameHeight || 0);
        out.framesPerSecond = Math.max(out.framesPerSecond, s.framesPerSecond || 0);
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
