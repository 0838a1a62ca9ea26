// One WHEP viewer's WebRTC connection, on libdatachannel (node-datachannel): ICE on the one UDP
// port every peer shares, DTLS-SRTP, and send-only tracks that take RTP packets onair made. The
// answer carries the host candidate; nothing else of libdatachannel reaches the rest of onair.
import type * as Ndc from 'node-datachannel';
import { withExtraCandidates, type ExtraCandidates } from './answer-candidates.ts';
import { holdUntilClosed } from './track-lifetime.ts';

/** The node-datachannel module, loaded once by the composition root (it is a native addon). */
export type NodeDataChannel = typeof Ndc;

/** How peers are made. */
export interface WhepPeerOptions {
  readonly ndc: NodeDataChannel;
  /** The UDP port all peers share (ICE UDP mux). */
  readonly udpPort: number;
  /** The address candidates are gathered on. */
  readonly bindAddress: string;
  /** A peer not connected this long after its answer is closed. */
  readonly handshakeTimeoutMs: number;
  /** Candidates added to every answer (webrtc.additionalHosts, ICE over TCP); none when absent. */
  readonly extraCandidates?: () => ExtraCandidates;
}

/** The answer libdatachannel made, with the extra candidates of `options` (WHEP and WHIP). */
export function finishAnswer(sdp: string, options: WhepPeerOptions): string {
  return options.extraCandidates ? withExtraCandidates(sdp, options.extraCandidates()) : sdp;
}

/** What the answer sends on. */
export interface WhepSendPlan {
  readonly video: {
    /** H.264 (libdatachannel's default fmtp) or VP8; H.264 when not given. */
    readonly codec?: 'h264' | 'vp8';
    readonly mid: string;
    readonly payloadType: number;
    readonly ssrc: number;
  } | null;
  readonly audio: {
    readonly mid: string;
    readonly payloadType: number;
    readonly ssrc: number;
  } | null;
  /** cname and msid of the tracks (the stream's path, for logs in the browser). */
  readonly cname: string;
}

/** Why a peer ended. */
export type WhepPeerEnd = 'closed' | 'failed' | 'handshake-timeout' | 'kicked';

/** See the file comment. */
export class WhepPeer {
  readonly #pc: Ndc.PeerConnection;
  readonly #video: Ndc.Track | null;
  readonly #audio: Ndc.Track | null;
  readonly #options: WhepPeerOptions;
  #ended = false;
  #connected = false;
  #blocked = false;
  #bytesSent = 0;
  #onEnd: ((reason: WhepPeerEnd) => void) | null = null;
  #onVideoRtcp: ((rtcp: Buffer) => void) | null = null;
  readonly #timer: NodeJS.Timeout;

  /**
   * Answers `offer` (already checked by parseWhepOffer) with send-only tracks; throws when
   * libdatachannel refuses the offer.
   */
  constructor(id: string, offer: string, plan: WhepSendPlan, options: WhepPeerOptions) {
    this.#options = options;
    const { ndc } = options;
    this.#pc = new ndc.PeerConnection(id, {
      iceServers: [],
      disableAutoNegotiation: true,
      enableIceUdpMux: true,
      portRangeBegin: options.udpPort,
      portRangeEnd: options.udpPort,
      bindAddress: options.bindAddress,
    });
    this.#timer = setTimeout(() => {
      if (!this.#connected) this.#end('handshake-timeout');
    }, options.handshakeTimeoutMs);
    this.#timer.unref();
    try {
      this.#pc.onStateChange((state) => {
        if (state === 'connected') {
          this.#connected = true;
        } else if (state === 'failed') this.#end('failed');
        else if (state === 'closed' || state === 'disconnected') this.#end('closed');
      });
      this.#pc.setRemoteDescription(offer, 'offer');
      this.#video = plan.video
        ? this.#track(new ndc.Video(plan.video.mid, 'SendOnly'), plan, 'video')
        : null;
      this.#audio = plan.audio
        ? this.#track(new ndc.Audio(plan.audio.mid, 'SendOnly'), plan, 'audio')
        : null;
      this.#pc.setLocalDescription('answer');
    } catch (error) {
      this.close();
      throw error;
    }
  }

  #track(media: Ndc.Video | Ndc.Audio, plan: WhepSendPlan, kind: 'video' | 'audio'): Ndc.Track {
    const send = kind === 'video' ? plan.video : plan.audio;
    if (send === null) throw new Error('no send plan');
    if (kind === 'video' && plan.video?.codec === 'vp8') {
      (media as Ndc.Video).addVP8Codec(send.payloadType);
    } else if (kind === 'video') (media as Ndc.Video).addH264Codec(send.payloadType);
    else (media as Ndc.Audio).addOpusCodec(send.payloadType);
    media.addSSRC(send.ssrc, plan.cname, plan.cname, kind);
    const track = holdUntilClosed(this.#pc.addTrack(media));
    track.onError(() => {
      this.#end('failed');
    });
    // A send-only track receives only the viewer's RTCP (decrypted): its NACKs, PLIs, reports.
    if (kind === 'video') {
      track.onMessage((message) => {
        if (!this.#ended && Buffer.isBuffer(message)) this.#onVideoRtcp?.(message);
      });
    }
    return track;
  }

  /** Resolves the answer once candidates are gathered (at once with a host candidate). */
  async answer(): Promise<string> {
    const deadline = Date.now() + this.#options.handshakeTimeoutMs;
    while (this.#pc.gatheringState() !== 'complete') {
      if (this.#ended || Date.now() > deadline) throw new Error('ICE gathering did not complete');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const local = this.#pc.localDescription();
    if (local === null) throw new Error('no local description');
    return finishAnswer(local.sdp, this.#options);
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** RTP bytes handed to the transport (before SRTP). */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** The peer's tracks are open and the last send did not find libdatachannel's buffer full. */
  get writable(): boolean {
    const track = this.#video ?? this.#audio;
    return !this.#ended && track !== null && track.isOpen() && !this.#blocked;
  }

  onEnd(callback: (reason: WhepPeerEnd) => void): void {
    this.#onEnd = callback;
  }

  /** `callback` gets the RTCP the viewer sends about its video (one compound packet each). */
  onVideoRtcp(callback: (rtcp: Buffer) => void): void {
    this.#onVideoRtcp = callback;
  }

  /**
   * Sends one RTP packet; false when libdatachannel could not send it now (its send buffer is
   * full): the caller skips to the next keyframe, and the next packet tries again.
   */
  sendVideo(packet: Buffer): boolean {
    return this.#send(this.#video, packet);
  }

  sendAudio(packet: Buffer): boolean {
    return this.#send(this.#audio, packet);
  }

  #send(track: Ndc.Track | null, packet: Buffer): boolean {
    if (track === null || this.#ended || !track.isOpen()) return false;
    this.#blocked = !track.sendMessageBinary(packet);
    if (!this.#blocked) this.#bytesSent += packet.length;
    return !this.#blocked;
  }

  /** Ends the connection (the viewer's DELETE, a kick, the stream ending). */
  close(reason: WhepPeerEnd = 'closed'): void {
    this.#end(reason);
  }

  #end(reason: WhepPeerEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    try {
      this.#video?.close(); // a track closed by hand reports it (holdUntilClosed lets it go)
      this.#audio?.close();
      this.#pc.close();
    } catch {
      // Already closed underneath.
    }
    this.#onEnd?.(reason);
  }
}
