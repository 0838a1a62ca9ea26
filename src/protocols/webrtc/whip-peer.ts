// One WHIP publisher's WebRTC connection, on libdatachannel (node-datachannel): ICE on the one UDP
// port every peer shares (WHEP viewers too), DTLS-SRTP, and receive-only tracks whose decrypted
// RTP packets are handed over as they arrive (RTCP from the publisher is passed as such); the
// RTCP onair makes (NACK, PLI, receiver reports) goes out through sendRtcp(), as SRTCP.
import type * as Ndc from 'node-datachannel';
import { isRtcp } from '../../codecs/rtp.ts';
import { finishAnswer, type WhepPeerOptions } from './whep-peer.ts';
import { holdUntilClosed } from './track-lifetime.ts';

/** What the answer receives on (from parseWhipOffer). */
export interface WhipReceivePlan {
  readonly video:
    | {
        readonly codec: 'h264';
        readonly mid: string;
        readonly payloadType: number;
        /** The fmtp of the answer's H.264 format (the offered profile, packetization-mode 1). */
        readonly fmtp: string;
      }
    | { readonly codec: 'av1' | 'vp8'; readonly mid: string; readonly payloadType: number };
  readonly audio: { readonly mid: string; readonly payloadType: number } | null;
}

/** Why a publisher's connection ended. */
export type WhipPeerEnd = 'closed' | 'failed' | 'handshake-timeout' | 'kicked' | 'idle-timeout';

/** See the file comment. */
export class WhipPeer {
  readonly #pc: Ndc.PeerConnection;
  readonly #video: Ndc.Track;
  readonly #audio: Ndc.Track | null;
  readonly #options: WhepPeerOptions;
  #ended = false;
  #connected = false;
  #bytesReceived = 0;
  #onEnd: ((reason: WhipPeerEnd) => void) | null = null;
  #onRtp: ((kind: 'video' | 'audio', packet: Buffer) => void) | null = null;
  #onRtcp: ((kind: 'video' | 'audio', packet: Buffer) => void) | null = null;
  readonly #timer: NodeJS.Timeout;

  /**
   * Answers `offer` (already checked by parseWhipOffer) with receive-only tracks; throws when
   * libdatachannel refuses the offer.
   */
  constructor(id: string, offer: string, plan: WhipReceivePlan, options: WhepPeerOptions) {
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
        if (state === 'connected') this.#connected = true;
        else if (state === 'failed') this.#end('failed');
        else if (state === 'closed' || state === 'disconnected') this.#end('closed');
      });
      this.#pc.setRemoteDescription(offer, 'offer');
      const video = new ndc.Video(plan.video.mid, 'RecvOnly');
      if (plan.video.codec === 'h264') video.addH264Codec(plan.video.payloadType, plan.video.fmtp);
      else if (plan.video.codec === 'av1') video.addAV1Codec(plan.video.payloadType);
      else video.addVP8Codec(plan.video.payloadType);
      this.#video = this.#track(video, 'video');
      if (plan.audio) {
        const audio = new ndc.Audio(plan.audio.mid, 'RecvOnly');
        audio.addOpusCodec(plan.audio.payloadType);
        this.#audio = this.#track(audio, 'audio');
      } else this.#audio = null;
      this.#pc.setLocalDescription('answer');
    } catch (error) {
      this.close();
      throw error;
    }
  }

  #track(media: Ndc.Video | Ndc.Audio, kind: 'video' | 'audio'): Ndc.Track {
    // No media handler: libdatachannel then sends what sendRtcp() gives it as RTCP (SRTCP),
    // whatever the track's direction; with one, a receive-only track would drop it.
    const track = holdUntilClosed(this.#pc.addTrack(media));
    track.onError(() => {
      this.#end('failed');
    });
    track.onMessage((packet) => {
      if (this.#ended) return;
      this.#bytesReceived += packet.length;
      if (isRtcp(packet)) this.#onRtcp?.(kind, packet);
      else this.#onRtp?.(kind, packet);
    });
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

  get ended(): boolean {
    return this.#ended;
  }

  /** RTP and RTCP bytes received (after SRTP decryption). */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Every RTP packet received, decrypted, by track kind (RTCP is not passed on). */
  onRtp(callback: (kind: 'video' | 'audio', packet: Buffer) => void): void {
    this.#onRtp = callback;
  }

  /** Every RTCP packet received (sender reports), decrypted, by track kind. */
  onRtcp(callback: (kind: 'video' | 'audio', packet: Buffer) => void): void {
    this.#onRtcp = callback;
  }

  onEnd(callback: (reason: WhipPeerEnd) => void): void {
    this.#onEnd = callback;
  }

  /** Sends one RTCP packet (a NACK, a PLI) to the publisher on the track of `kind`. */
  sendRtcp(kind: 'video' | 'audio', packet: Buffer): boolean {
    const track = kind === 'video' ? this.#video : this.#audio;
    if (track === null || this.#ended || !track.isOpen()) return false;
    try {
      return track.sendMessageBinary(packet);
    } catch {
      return false;
    }
  }

  /** Ends the connection (the publisher's DELETE, a kick, idleness, shutdown). */
  close(reason: WhipPeerEnd = 'closed'): void {
    this.#end(reason);
  }

  #end(reason: WhipPeerEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    try {
      this.#video.close(); // a track closed by hand reports it (holdUntilClosed lets it go)
      this.#audio?.close();
      this.#pc.close();
    } catch {
      // Already closed underneath.
    }
    this.#onEnd?.(reason);
  }
}
