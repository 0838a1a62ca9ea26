// WHIP ingest (RFC 9725): POST /<app>/<name>/whip with the publisher's SDP offer, after the same
// publish decision as RTMP (key or token, on_publish, limits), answers 201 with the SDP answer
// and a Location to DELETE; the publisher's H.264, AV1 or VP8 and Opus then come in over WebRTC
// and are published into the hub like any other ingest (whip-ingest.ts makes the frames).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import { HubError, StreamBusyError } from '../../hub/hub-errors.ts';
import type { Publication } from '../../hub/stream.ts';
import type { Session, SessionRegistry, SessionSlot } from '../../hub/session-registry.ts';
import { h264AnswerFmtp, parseWhipOffer } from '../../protocols/webrtc/whip-offer.ts';
import { releaseWebRtc, retainWebRtc } from '../../protocols/webrtc/load-webrtc.ts';
import type { WhepPeerOptions } from '../../protocols/webrtc/whep-peer.ts';
import { WhipPeer, type WhipPeerEnd } from '../../protocols/webrtc/whip-peer.ts';
import { isSdpRequest, readOfferBody } from './offer-body.ts';
import { WhipIngest } from './whip-ingest.ts';

/** What the handler is built from. */
export interface WhipHandlerOptions {
  readonly hub: StreamHub;
  readonly logger: Logger;
  readonly sessions: SessionRegistry;
  readonly peer: WhepPeerOptions;
  /** Access-Control-Allow-Origin: * on answers (http.cors). */
  readonly cors: boolean;
}

/** A connected publisher that sends no RTP for this long is ended (browsers send 50 packets/s). */
export const WHIP_IDLE_TIMEOUT_MS = 10_000;
/** How often each publisher's reorder buffers, NACKs, PLIs and idleness are looked at. */
const TICK_MS = 20;

/** The resource of one publisher: `/<path>/whip/<32 hex>`. */
const RESOURCE = /^\/(.+)\/whip\/([0-9a-f]{32})$/;

/** A WHIP URL: the endpoint of a stream, or one publisher's resource. */
export type WhipTarget =
  | { readonly kind: 'endpoint'; readonly path: string }
  | { readonly kind: 'resource'; readonly path: string; readonly id: string };

interface Publisher {
  readonly id: string;
  readonly path: string;
  readonly peer: WhipPeer;
  /** SHA-256 of the Bearer its offer was authorized with: its resource takes no other. */
  readonly bearer: Buffer | null;
}

/** See the file comment. */
export class WhipHandler {
  readonly #options: WhipHandlerOptions;
  readonly #publishers = new Map<string, Publisher>();
  /** This handler made a peer: libdatachannel's threads run until close() releases them. */
  #retained = false;

  constructor(options: WhipHandlerOptions) {
    this.#options = options;
  }

  /** The WHIP target of a request path, or null when it is not one. */
  static parseTarget(pathname: string): WhipTarget | null {
    if (pathname.endsWith('/whip') && pathname.length > '/whip'.length + 1) {
      return { kind: 'endpoint', path: pathname.slice(1, -'/whip'.length) };
    }
    if (!pathname.includes('/whip/')) return null;
    const match = RESOURCE.exec(pathname);
    if (match === null) return null;
    return { kind: 'resource', path: match[1] ?? '', id: match[2] ?? '' };
  }

  get publisherCount(): number {
    return this.#publishers.size;
  }

  /** Headers every WHIP answer carries. */
  corsHeaders(): Record<string, string> {
    return this.#options.cors
      ? { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Location' }
      : {};
  }

  /**
   * A publisher's offer, after its publish decision (`slot` holds its place): reads the bounded
   * body, answers 201 with the SDP answer, or 4xx with the reason.
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
      fail(415, 'a WHIP offer is Content-Type: application/sdp');
      return;
    }
    readOfferBody(req, this.#options.peer.handshakeTimeoutMs, {
      onRefuse: fail,
      onError: () => {
        slot?.release();
      },
      onOffer: (sdp) => {
        this.#answer(res, path, sdp, sessionId, ip, slot, req).catch((error: unknown) => {
          this.#options.logger.warn({ err: error, path, session: sessionId }, 'WHIP answer failed');
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
    const { hub, logger } = this.#options;
    const refuse = (status: number, message: string): void => {
      slot?.release();
      logger.debug({ path, session: sessionId, status, reason: message }, 'WHIP offer refused');
      if (res.headersSent) return;
      res
        .writeHead(status, { 'Content-Type': 'text/plain', ...this.corsHeaders() })
        .end(`${message}\n`);
    };
    const offer = parseWhipOffer(sdp);
    if ('status' in offer) {
      refuse(offer.status, offer.status === 400 ? `bad offer: ${offer.message}` : offer.message);
      return;
    }
    if (hub.get(path)?.publisher != null) {
      refuse(409, `${path} already has a publisher`);
      return;
    }
    const id = randomBytes(16).toString('hex');
    if (!this.#retained) {
      this.#retained = true;
      retainWebRtc();
    }
    let peer: WhipPeer;
    try {
      peer = new WhipPeer(
        id,
        sdp,
        {
          video:
            offer.video.codec === 'h264'
              ? {
                  codec: 'h264',
                  mid: offer.video.mid,
                  payloadType: offer.video.format.payloadType,
                  fmtp: h264AnswerFmtp(offer.video.format),
                }
              : {
                  codec: offer.video.codec,
                  mid: offer.video.mid,
                  payloadType: offer.video.format.payloadType,
                },
          audio: offer.audio,
        },
        this.#options.peer,
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'refused';
      refuse(400, `the offer could not be answered: ${reason}`);
      return;
    }
    let answer: string;
    try {
      answer = await peer.answer();
    } catch (error) {
      peer.close('failed');
      throw error;
    }
    if (res.destroyed || req.socket.destroyed) {
      peer.close('closed'); // the client left while its answer was made
      slot?.release();
      return;
    }
    let publication: Publication;
    try {
      publication = hub.publish(path, { protocol: 'webrtc', remoteAddress: ip });
    } catch (error) {
      peer.close('closed');
      if (!(error instanceof HubError)) throw error;
      refuse(error instanceof StreamBusyError ? 409 : 400, error.message);
      return;
    }
    this.#start(peer, publication, {
      id,
      path,
      sessionId,
      ip,
      req,
      slot,
      videoPayloadType: offer.video.format.payloadType,
      videoCodec: offer.video.codec,
      audioPayloadType: offer.audio?.payloadType ?? null,
    });
    res
      .writeHead(201, {
        'Content-Type': 'application/sdp',
        Location: `/${path}/whip/${id}`,
        ...this.corsHeaders(),
      })
      .end(answer);
  }

  /** Wires a publisher: RTP into the ingest, the session, the timers, the end. */
  #start(
    peer: WhipPeer,
    publication: Publication,
    who: {
      readonly id: string;
      readonly path: string;
      readonly sessionId: string;
      readonly ip: string;
      readonly req: IncomingMessage;
      readonly slot: SessionSlot | undefined;
      readonly videoPayloadType: number;
      readonly videoCodec: 'h264' | 'av1' | 'vp8';
      readonly audioPayloadType: number | null;
    },
  ): void {
    const { logger, sessions } = this.#options;
    const log = logger.child({ session: who.sessionId, stream: who.path });
    const drops = new Map<string, number>();
    const ingest = new WhipIngest({
      videoPayloadType: who.videoPayloadType,
      videoCodec: who.videoCodec,
      audioPayloadType: who.audioPayloadType,
      write: (frame) => {
        publication.write(frame);
      },
      sendRtcp: (kind, packet) => {
        peer.sendRtcp(kind, packet);
      },
      onDrop: (reason) => {
        if (drops.size < 32 || drops.has(reason)) drops.set(reason, (drops.get(reason) ?? 0) + 1);
      },
    });
    peer.onRtp((kind, packet) => {
      try {
        ingest.push(kind, packet);
      } catch (error) {
        // A bug, not the publisher's bytes (the codecs never throw on input): end this one only.
        log.error({ err: error }, 'WHIP ingest failed');
        peer.close('failed');
      }
    });
    peer.onRtcp((kind, packet) => {
      ingest.rtcp(kind, packet);
    });
    const ticker = setInterval(() => {
      try {
        ingest.tick();
      } catch (error) {
        log.error({ err: error }, 'WHIP ingest failed');
        peer.close('failed');
        return;
      }
      if (peer.connected && Date.now() - ingest.lastPacketMs > WHIP_IDLE_TIMEOUT_MS) {
        peer.close('idle-timeout');
      }
    }, TICK_MS);
    ticker.unref();
    const publisher: Publisher = {
      id: who.id,
      path: who.path,
      peer,
      bearer: bearerDigest(who.req),
    };
    this.#publishers.set(who.id, publisher);
    const agent = who.req.headers['user-agent'];
    let session: Session | null = null;
    peer.onEnd((reason: WhipPeerEnd) => {
      clearInterval(ticker);
      this.#publishers.delete(who.id);
      publication.close();
      if (session !== null) {
        sessions.remove(session, { reason: reason === 'closed' ? 'client-left' : reason });
      }
      log.info(
        {
          reason,
          packetsLost: ingest.packetsLost,
          framesDropped: ingest.framesDropped,
          drops: Object.fromEntries(drops),
        },
        'WHIP publish ended',
      );
    });
    session = sessions.add(
      {
        id: who.sessionId,
        role: 'publisher',
        protocol: 'webrtc',
        path: who.path,
        ip: who.ip,
        close: () => {
          peer.close('kicked');
        },
        bytes: () => peer.bytesReceived,
        droppedFrames: () => ingest.framesDropped,
        ...(agent === undefined ? {} : { userAgent: agent.slice(0, 200) }),
      },
      who.slot,
    );
    log.info({ ip: who.ip, video: who.videoCodec }, 'WHIP publish started');
  }

  /**
   * A request to a publisher's resource: 404 for an unknown or guessed one; 401 when the offer
   * came with a Bearer and this request does not carry the same one (the resource URL alone does
   * not end a publication made with a key); then DELETE ends the publication (200), and any
   * other method is 405 (no trickle ICE).
   */
  handleResource(
    req: IncomingMessage,
    res: ServerResponse,
    target: { path: string; id: string },
  ): void {
    const publisher = this.#publishers.get(target.id);
    if (publisher === undefined || publisher.path !== target.path) {
      res
        .writeHead(404, { 'Content-Type': 'text/plain', ...this.corsHeaders() })
        .end('No such session\n');
      return;
    }
    if (publisher.bearer !== null) {
      const given = bearerDigest(req);
      if (given === null || !timingSafeEqual(given, publisher.bearer)) {
        res
          .writeHead(401, {
            'Content-Type': 'text/plain',
            'WWW-Authenticate': 'Bearer',
            ...this.corsHeaders(),
          })
          .end('this session takes the Bearer its offer was made with\n');
        return;
      }
    }
    if (req.method !== 'DELETE') {
      res.writeHead(405, { Allow: 'DELETE, OPTIONS', ...this.corsHeaders() }).end();
      return;
    }
    publisher.peer.close('closed');
    res.writeHead(200, this.corsHeaders()).end();
  }

  /** Ends every publisher (shutdown). */
  close(): void {
    for (const publisher of [...this.#publishers.values()]) publisher.peer.close('closed');
    if (this.#retained) {
      this.#retained = false;
      releaseWebRtc(this.#options.peer.ndc);
    }
  }
}

/** SHA-256 of a request's `Authorization: Bearer` token (equal length for timingSafeEqual). */
function bearerDigest(req: IncomingMessage): Buffer | null {
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer ') !== true) return null;
  return createHash('sha256').update(authorization.slice(7)).digest();
}
