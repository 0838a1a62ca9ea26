// A WHIP publisher's SDP offer (RFC 9725): the sendonly video and audio sections it will send,
// read by the same bounded parser as a WHEP offer (whep-offer.ts), and the formats onair takes
// from it: H.264 in packetization-mode 1 (the profiles browsers and OBS offer), and Opus.
import { parseWhepOffer, type H264Format } from './whep-offer.ts';

/** What onair will receive, and on which payload types. */
export interface WhipOffer {
  readonly video: { readonly mid: string; readonly format: H264Format };
  readonly audio: { readonly mid: string; readonly payloadType: number } | null;
}

/** Why an offer cannot be answered: 400 (not a usable offer) or 406 (nothing onair takes). */
export interface WhipOfferRefusal {
  readonly status: 400 | 406;
  readonly message: string;
}

/** profile-level-id values preferred, in order: Constrained Baseline first (no B-frames). */
const PREFERRED_PROFILES = ['42e01f', '42001f'];
/** Then any of these profile_idc: Baseline, Main, High. */
const PREFERRED_PROFILE_IDC = [0x42, 0x4d, 0x64];

/** Reads an offer for publishing; a refusal says why it cannot be answered. */
export function parseWhipOffer(sdp: string): WhipOffer | WhipOfferRefusal {
  const offer = parseWhepOffer(sdp);
  if (typeof offer === 'string') return { status: 400, message: offer };
  const format = offer.video ? chooseWhipH264Format(offer.video.h264) : null;
  const video = offer.video && format ? { mid: offer.video.mid, format } : null;
  const audio =
    offer.audio && offer.audio.opus !== null
      ? { mid: offer.audio.mid, payloadType: offer.audio.opus }
      : null;
  if (video === null) {
    return {
      status: 406,
      message:
        offer.video === null
          ? 'the offer has no video: WHIP ingest takes H.264 (and Opus)'
          : 'the offer has no H.264 with packetization-mode=1: WHIP ingest takes H.264',
    };
  }
  return { video, audio };
}

/**
 * The H.264 format to receive: packetization-mode 1 only (mode 0 sends one NAL unit per packet,
 * which no browser needs), 42e01f or 42001f first, then Baseline, Main or High, then any.
 */
export function chooseWhipH264Format(formats: readonly H264Format[]): H264Format | null {
  const usable = formats.filter((f) => f.packetizationMode === 1);
  const idc = (f: H264Format): number =>
    f.profileLevelId === null ? -1 : parseInt(f.profileLevelId.slice(0, 2), 16);
  for (const profile of PREFERRED_PROFILES) {
    const found = usable.find((f) => f.profileLevelId === profile);
    if (found) return found;
  }
  for (const profileIdc of PREFERRED_PROFILE_IDC) {
    const found = usable.find((f) => idc(f) === profileIdc);
    if (found) return found;
  }
  return usable[0] ?? null;
}

/** The fmtp of the answer's H.264 format: the offered profile, mode 1. */
export function h264AnswerFmtp(format: H264Format): string {
  return `profile-level-id=${format.profileLevelId ?? '42e01f'};packetization-mode=1;level-asymmetry-allowed=1`;
}
