// WHEP playback (draft-ietf-wish-whep): POST /<app>/<name>/whep with an SDP offer answers 201
// with the SDP answer and a Location to DELETE; the viewer then gets the stream's H.264 (and
// its audio as Opus: passed through, or made from AAC by one ffmpeg per stream) over WebRTC, from the stream's shared RTP packets.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Session, SessionRegistry, SessionSlot } from '../../hub/session-registry.ts';
import { chooseH264Format, parseWhepOffer } from '../../protocols/webrtc/whep-offer.ts';
import { releaseWebRtc, retainWebRtc } from '../../protocols/webrtc/load-webrtc.ts';
import { WhepPeer, type WhepPeerOptions } from '../../protocols/webrtc/whep-peer.ts';
import {
  addLossRecovery,
  noLossRecovery,
  RtpStreamOutput,
  rtpTracksOf,
  type LossRecoveryCounts,
  type AudioToOpusFactory,
  type RtpViewer,
} from './rtp-stream.ts';
import { isSdpRequest, readOfferBody } from './offer-body.ts';

/** What the handler is built from. */
export interface WhepHandlerOptions {
  readonly hub: StreamHub;
  readonly logger: Logger;
  readonly sessions: SessionRegistry;
  readonly peer: WhepPeerOptions;
  /** Access-Control-Allow-Origin: * on answers (http.cors). */
  readonly cors: boolean;
  /** Makes AAC streams' audio Opus for their viewers (webrtc.opusFromAac); absent: no audio. */
  readonly toOpus?: AudioToOpusFactory;
}

/** Stands for no viewer: removing it only lets an output with no viewers go. */
const DETACHED: RtpViewer = {
  videoPayloadType: null,
  audioPayloadType: null,
  ready: false,
  writable: false,
  sendVideo: () => false,
  sendAudio: () => false,
  end: () => undefined,
};

/** The resource of one viewer: `/<path>/whep/<32 hex>`. */
const RESOURCE = /^\/(.+)\/whep\/([0-9a-f]{32})$/;

/** A WHEP URL: the endpoint of a stream, or one viewer's resource. */
export type WhepTarget =
  | { readonly kind: 'endpoint'; readonly path: string }
  | { readonly kind: 'resource'; readonly path: string; readonly id: string };

interface Viewer {
  readonly id: string;
  readonly path: string;
  readonly peer: WhepPeer;
  readonly rtp: RtpViewer;
  session: Session | null;
}

/** See the file comment. */
export class WhepHandler {
  readonly #options: WhepHandlerOptions;
  readonly #outputs = new Map<string, RtpStreamOutput>();
  readonly #viewers = new Map<string, Viewer>();
  /** Loss recovery of outputs that are gone. */
  readonly #pastRecovery = noLossRecovery();
  /** This handler made a peer: libdatachannel's threads run until close() releases them. */
  #retained = false;

  constructor(options: WhepHandlerOptions) {
    this.#options = options;
  }

  /** The WHEP target of a request path, or null when it is not one. */
  static parseTarget(pathname: string): WhepTarget | null {
    if (pathname.endsWith('/whep') && pathname.length > '/whep'.length + 1) {
      return { kind: 'endpoint', path: pathname.slice(1, -'/whep'.length) };
    }
    if (!pathname.includes('/whep/')) return null;
    const match = RESOURCE.exec(pathname);
    if (match === null) return null;
    return { kind: 'resource', path: match[1] ?? '', id: match[2] ?? '' };
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /** Every viewer's NACKs, retransmits and keyframe requests since start (for /metrics). */
  lossRecovery(): LossRecoveryCounts {
    const total = { ...this.#pastRecovery };
    for (const output of this.#outputs.values()) addLossRecovery(total, output.totalLossRecovery());
    return total;
  }

  /** Headers every WHEP answer carries. */
  corsHeaders(): Record<string, string> {
    return this.#options.cors
      ? { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Location' }
      : {};
  }

  /**
   * A viewer's offer, after its play decision (`slot` holds its place): reads the bounded body,
   * answers 201 with the SDP answer, or 4xx with the reason.
   */
  handleOffer(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    sessionId: string,
    ip: string,
    slot?: SessionSlot,
  ): void {
    const fail = (status: number, message: string): void => {
      slot?.release();
      if (!res.headersSent) {
        res
          .writeHead(status, { 'Content-Type': 'text/plain', ...this.corsHeaders() })
          .end(`${message}\n`);
      }
    };
    if (!isSdpRequest(req)) {
      fail(415, 'a WHEP offer is Content-Type: application/sdp');
      return;
    }
    readOfferBody(req, this.#options.peer.handshakeTimeoutMs, {
      onRefuse: fail,
      onError: () => {
        slot?.release();
      },
      onOffer: (sdp) => {
        this.#answer(res, path, sdp, sessionId, ip, slot, req).catch((error: unknown) => {
          this.#options.logger.warn({ err: error, path, session: sessionId }, 'WHEP answer failed');
          fail(500, 'the offer could not be answered');
        });
      },
    });
  }

  async #answer(
    res: ServerResponse,
    path: string,
    sdp: string,
    sessionId: string,
    ip: string,
    slot: SessionSlot | undefined,
    req: IncomingMessage,
  ): Promise<void> {
    const refuse = (status: number, message: string): void => {
      slot?.release();
      res
        .writeHead(status, { 'Content-Type': 'text/plain', ...this.corsHeaders() })
        .end(`${message}\n`);
    };
    const offer = parseWhepOffer(sdp);
    if (typeof offer === 'string') {
      refuse(400, `bad offer: ${offer}`);
      return;
    }
    const stream = this.#options.hub.get(path);
    if (stream?.publisher == null || stream.tracks.length === 0) {
      refuse(404, 'No such stream');
      return;
    }
    const tracks = rtpTracksOf(stream.tracks);
    if (tracks.otherVideo !== null) {
      refuse(
        406,
        `the stream's video is ${tracks.otherVideo}; WebRTC playback carries H.264 or VP8`,
      );
      return;
    }
    const receives = offer.video?.receives === true ? offer.video : null;
    const vp8 = tracks.vp8 && receives !== null ? receives.vp8[0] : undefined;
    const video =
      tracks.h264 !== null && receives !== null
        ? chooseH264Format(receives.h264, tracks.h264.profileIdc)
        : vp8 === undefined
          ? null
          : { payloadType: vp8 };
    if (tracks.h264 !== null && video === null) {
      refuse(406, 'the offer has no H.264 with packetization-mode=1 to receive');
      return;
    }
    if (tracks.vp8 && video === null) {
      refuse(406, 'the offer has no VP8 to receive');
      return;
    }
    const carriesAudio = tracks.opus || (tracks.aac !== null && this.#options.toOpus !== undefined);
    const audioPt = carriesAudio && offer.audio?.receives === true ? offer.audio.opus : null;
    if (video === null && audioPt === null) {
      refuse(406, 'nothing in the offer can carry this stream');
      return;
    }
    const output = this.#outputFor(path);
    const id = randomBytes(16).toString('hex');
    if (!this.#retained) {
      this.#retained = true;
      retainWebRtc();
    }
    let peer: WhepPeer;
    try {
      peer = new WhepPeer(
        id,
        sdp,
        {
          video:
            video && offer.video
              ? {
                  codec: tracks.vp8 ? 'vp8' : 'h264',
                  mid: offer.video.mid,
                  payloadType: video.payloadType,
                  ssrc: output.videoSsrc,
                }
              : null,
          audio:
            audioPt !== null && offer.audio
              ? { mid: offer.audio.mid, payloadType: audioPt, ssrc: output.audioSsrc }
              : null,
          cname: path,
        },
        this.#options.peer,
      );
    } catch (error) {
      output.remove(DETACHED); // drops the output again if nobody else watches
      refuse(
        400,
        `the offer could not be answered: ${error instanceof Error ? error.message : 'refused'}`,
      );
      return;
    }
    const rtp: RtpViewer = {
      videoPayloadType: video?.payloadType ?? null,
      audioPayloadType: audioPt,
      get ready() {
        return peer.connected;
      },
      get writable() {
        return peer.writable;
      },
      sendVideo: (packet) => peer.sendVideo(packet),
      sendAudio: (packet) => peer.sendAudio(packet),
      end: () => {
        peer.close('closed');
      },
    };
    const viewer: Viewer = { id, path, peer, rtp, session: null };
    this.#viewers.set(id, viewer);
    output.add(rtp);
    peer.onVideoRtcp((rtcp) => {
      output.feedback(rtp, rtcp);
    });
    peer.onEnd((reason) => {
      this.#viewers.delete(id);
      output.remove(rtp);
      if (viewer.session !== null) {
        this.#options.sessions.remove(viewer.session, {
          reason: reason === 'kicked' ? 'kicked' : 'client-left',
        });
      } else slot?.release();
      this.#options.logger.debug({ session: id, path, reason }, 'WHEP viewer ended');
    });
    let answer: string;
    try {
      answer = await peer.answer();
    } catch (error) {
      peer.close('failed');
      throw error;
    }
    viewer.session = this.#options.sessions.add(
      {
        id: sessionId,
        role: 'viewer',
        protocol: 'webrtc',
        path,
        ip,
        close: () => {
          peer.close('kicked');
        },
        bytes: () => peer.bytesSent,
        droppedFrames: () => output.droppedFrames(rtp),
        queueDepth: () => 0,
        ...userAgentOf(req),
      },
      slot,
    );
    res
      .writeHead(201, {
        'Content-Type': 'application/sdp',
        Location: `/${path}/whep/${id}`,
        ...this.corsHeaders(),
      })
      .end(answer);
  }

  /**
   * A request to a viewer's resource: 404 on an unknown or guessed one; on one that exists,
   * DELETE ends it (200) and any other method is 405 (no trickle ICE).
   */
  handleResource(
    req: IncomingMessage,
    res: ServerResponse,
    target: { path: string; id: string },
  ): void {
    const viewer = this.#viewers.get(target.id);
    if (viewer === undefined || viewer.path !== target.path) {
      res
        .writeHead(404, { 'Content-Type': 'text/plain', ...this.corsHeaders() })
        .end('No such session\n');
    } else if (req.method === 'DELETE') {
      viewer.peer.close('closed');
      res.writeHead(200, this.corsHeaders()).end();
    } else {
      res.writeHead(405, { Allow: 'DELETE, OPTIONS', ...this.corsHeaders() }).end();
    }
  }

  /** Ends every viewer (shutdown). */
  close(): void {
    for (const viewer of [...this.#viewers.values()]) viewer.peer.close('closed');
    if (this.#retained) {
      this.#retained = false;
      releaseWebRtc(this.#options.peer.ndc);
    }
  }

  #outputFor(path: string): RtpStreamOutput {
    const output = this.#outputs.get(path);
    if (output !== undefined) return output;
    const stream = this.#options.hub.open(path);
    const created = new RtpStreamOutput(() => {
      if (this.#outputs.get(path) === created) {
        this.#outputs.delete(path);
        addLossRecovery(this.#pastRecovery, created.totalLossRecovery());
      }
      stream.unsubscribe(created);
    }, this.#options.toOpus ?? null);
    this.#outputs.set(path, created);
    stream.subscribe(created);
    return created;
  }
}

function userAgentOf(req: IncomingMessage): { userAgent?: string } {
  const agent = req.headers['user-agent'];
  return agent === undefined ? {} : { userAgent: agent.slice(0, 200) };
}
