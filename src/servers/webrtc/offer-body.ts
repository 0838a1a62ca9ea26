// The SDP offer of a WHEP or WHIP POST: its content type checked, its body read with a size
// bound and a deadline. One reader for both handlers.
import type { IncomingMessage } from 'node:http';
import { MAX_OFFER_BYTES } from '../../protocols/webrtc/whep-offer.ts';

/** Whether a request has the offer's content type. */
export function isSdpRequest(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/sdp';
}

/** What becomes of the body: exactly one of these runs, once. */
export interface OfferBodyCallbacks {
  readonly onOffer: (sdp: string) => void;
  /** The request is refused (408, 413); the request stream is destroyed after. */
  readonly onRefuse: (status: number, message: string) => void;
  /** The request failed underneath (the client went away). */
  readonly onError: () => void;
}

/** Reads `req`'s body (at most MAX_OFFER_BYTES, within `timeoutMs`) as the offer. */
export function readOfferBody(
  req: IncomingMessage,
  timeoutMs: number,
  callbacks: OfferBodyCallbacks,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const finish = (): boolean => {
    if (done) return false;
    done = true;
    clearTimeout(timer);
    return true;
  };
  const refuse = (status: number, message: string): void => {
    if (!finish()) return;
    callbacks.onRefuse(status, message);
    req.destroy();
  };
  const timer = setTimeout(() => {
    refuse(408, 'the offer did not arrive in time');
  }, timeoutMs);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    if (done) return;
    size += chunk.length;
    if (size > MAX_OFFER_BYTES) {
      refuse(413, `an offer is at most ${MAX_OFFER_BYTES} bytes`);
      return;
    }
    chunks.push(chunk);
  });
  req.on('error', () => {
    if (finish()) callbacks.onError();
  });
  req.on('end', () => {
    if (finish()) callbacks.onOffer(Buffer.concat(chunks).toString('utf8'));
  });
}
