// A WHEP load viewer on node-datachannel (libdatachannel): a recvonly H.264 offer POSTed to
// onair's /APP/NAME/whep, the answer applied, then the RTP packets of the video track counted
// (track.onMessage). close() sends the DELETE and closes the peer; the process that made viewers
// calls closeWebRtc() (node-datachannel's cleanup()) at the end so its threads stop.
import nodeDataChannel, { type PeerConnection as Peer, type Track } from 'node-datachannel';

import { holdUntilClosed } from '../src/protocols/webrtc/track-lifetime.ts';

const { PeerConnection, RtcpReceivingSession, Video, cleanup } = nodeDataChannel;

/** The payload type the offer gives H.264 (packetization-mode=1, as libdatachannel adds it). */
export const VIDEO_PT = 96;

/** One viewer's counters (RTP only: RTCP on the track is not counted). */
export interface WhepViewerStats {
  /** Milliseconds (performance.now()) the offer was started, and the answer and first RTP came. */
  startedAtMs: number;
  answeredAtMs: number | null;
  connectedAtMs: number | null;
  firstPacketAtMs: number | null;
  rtpPackets: number;
  /** RTP packet bytes (header included), as the track hands them after SRTP. */
  rtpBytes: number;
  /** RTP packets with the marker bit: the last packet of a frame. */
  frames: number;
  /** HTTP status of the offer (0: no answer yet or failed before). */
  status: number;
  error: string | null;
  /** The peer went to failed / closed / disconnected before close(). */
  ended: string | null;
  /** Peers made again after libjuice dropped the ICE transport (see start()). */
  retries: number;
}

/** See the file comment. */
export class WhepViewer {
  readonly stats: WhepViewerStats;
  readonly #endpoint: string;
  readonly #name: string;
  readonly #options: { readonly bindAddress: string; readonly count: boolean };
  #pc: Peer;
  /** Held: a Track whose JS object is collected is closed by libdatachannel. */
  #track: Track;
  #resource: string | null = null;
  #closed = false;

  /** Makes the peer (bound to `bindAddress`); start() sends the offer. */
  constructor(
    name: string,
    endpoint: string,
    now: number,
    options: { readonly bindAddress: string; readonly count: boolean },
  ) {
    this.#endpoint = endpoint;
    this.stats = {
      startedAtMs: now,
      answeredAtMs: null,
      connectedAtMs: null,
      firstPacketAtMs: null,
      rtpPackets: 0,
      rtpBytes: 0,
      frames: 0,
      status: 0,
      error: null,
      ended: null,
      retries: 0,
    };
    this.#name = name;
    this.#options = options;
    [this.#pc, this.#track] = this.#makePeer(0);
  }

  /** A peer with its recvonly H.264 track; events of a peer replaced by a retry are ignored. */
  #makePeer(attempt: number): [Peer, Track] {
    const pc = new PeerConnection(`${this.#name}-${attempt}`, {
      iceServers: [],
      bindAddress: this.#options.bindAddress,
      disableAutoNegotiation: true,
    });
    const stats = this.stats;
    pc.onStateChange((state) => {
      if (pc !== this.#pc) return;
      if (state === 'connected') stats.connectedAtMs ??= performance.now();
      else if (
        !this.#closed &&
        (state === 'failed' || state === 'closed' || state === 'disconnected')
      ) {
        stats.ended ??= state;
      }
    });
    const video = new Video('video', 'RecvOnly');
    video.addH264Codec(VIDEO_PT);
    const track = holdUntilClosed(pc.addTrack(video));
    // Without a media handler libdatachannel does not hand incoming RTP to onMessage; this one
    // also sends receiver reports (as a browser would).
    track.setMediaHandler(new RtcpReceivingSession());
    if (this.#options.count) {
      track.onMessage((message) => {
        // RTP: version 2, payload type not an RTCP one (200..206 with the marker bit folded in).
        const b1 = message[1] ?? 0;
        if ((message[0] ?? 0) >> 6 !== 2 || (b1 >= 192 && b1 <= 223)) return;
        if (stats.rtpPackets === 0) stats.firstPacketAtMs = performance.now();
        stats.rtpPackets++;
        stats.rtpBytes += message.length;
        if (b1 & 0x80) stats.frames++;
      });
    }
    return [pc, track];
  }

  /** Transport bytes received by the peer (SRTP, DTLS, STUN), from libdatachannel. */
  get transportBytes(): number {
    try {
      return this.#closed ? 0 : this.#pc.bytesReceived();
    } catch {
      return 0;
    }
  }

  /**
   * Gathers (host candidates only: at once), POSTs the offer and applies the answer. libjuice, as
   * an offerer, now and then drops its ICE transport when the answerer's first connectivity check
   * arrives before the answer is applied ("Got a remote candidate without ICE transport"): seen
   * on about one in five first peers of a process, and on a loaded CI run twice in a row, 20 ms
   * apart. Such a viewer is made again, up to 3 more times 200 ms apart, as a browser user would
   * reload; `stats.retries` counts them.
   */
  async start(timeoutMs: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#offer(timeoutMs);
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (attempt < 3 && !this.#closed && message.includes('without ICE transport')) {
          await this.#dropPeer(timeoutMs);
          await new Promise((resolve) => setTimeout(resolve, 200));
          this.stats.ended = null; // the dropped peer's 'failed'
          this.stats.retries++;
          [this.#pc, this.#track] = this.#makePeer(attempt + 1);
          continue;
        }
        this.stats.error ??= message;
        return;
      }
    }
  }

  async #offer(timeoutMs: number): Promise<void> {
    this.#pc.setLocalDescription('offer');
    const deadline = Date.now() + timeoutMs;
    while (this.#pc.gatheringState() !== 'complete') {
      if (this.#closed) return;
      if (Date.now() > deadline) throw new Error('ICE gathering did not complete');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const offer = this.#pc.localDescription();
    if (offer === null) throw new Error('no local description');
    const response = await fetch(this.#endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer.sdp,
      signal: AbortSignal.timeout(timeoutMs),
    });
    this.stats.status = response.status;
    const body = await response.text();
    if (response.status !== 201) throw new Error(`offer answered ${response.status}: ${body}`);
    const location = response.headers.get('location');
    this.#resource = location === null ? null : new URL(location, this.#endpoint).href;
    if (this.#closed) return;
    this.#pc.setRemoteDescription(body, 'answer');
    this.stats.answeredAtMs = performance.now();
  }

  /** DELETEs the resource (bounded by `timeoutMs`) and closes the peer. */
  async close(timeoutMs = 3000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#dropPeer(timeoutMs);
  }

  async #dropPeer(timeoutMs: number): Promise<void> {
    const resource = this.#resource;
    this.#resource = null;
    if (resource !== null) {
      try {
        await fetch(resource, { method: 'DELETE', signal: AbortSignal.timeout(timeoutMs) });
      } catch {
        // the server may be gone already; the peer is closed below anyway
      }
    }
    try {
      this.#track.close();
      this.#pc.close();
    } catch {
      // already closed underneath
    }
  }
}

/** node-datachannel's cleanup(): ends libdatachannel's threads so the process can exit. */
export function closeWebRtc(): void {
  cleanup();
}
