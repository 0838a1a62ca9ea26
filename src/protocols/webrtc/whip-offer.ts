// A WHIP publisher's SDP offer (RFC 9725): the sendonly video and audio sections it will send,
// read by the same bounded parser as a WHEP offer (whep-offer.ts), and the formats onair takes
// from it: H.264 in packetization-mode 1 (the profiles browsers and OBS offer), else AV1 (a
// browser told to send only AV1), else VP8 (Firefox without OpenH264), and Opus.
import { parseWhepOffer, type H264Format } from './whep-offer.ts';

/** What onair will receive, and on which payload types. */
export interface WhipOffer {
  readonly video: WhipVideo;
  readonly audio: { readonly mid: string; readonly payloadType: number } | null;
}

/** The video onair receives: H.264 when the offer has a usable one, else AV1, else VP8. */
export type WhipVideo =
  | { readonly mid: string; readonly codec: 'h264'; readonly format: H264Format }
  | {
      readonly mid: string;
      readonly codec: 'av1' | 'vp8';
      readonly format: { readonly payloadType: number };
    };

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
  const video = offer.video === null ? null : chooseWhipVideo(offer.video);
  const audio =
    offer.audio && offer.audio.opus !== null
      ? { mid: offer.audio.mid, payloadType: offer.audio.opus }
      : null;
  if (video === null) {
    return {
      status: 406,
      message:
        offer.video === null
          ? 'the offer has no video: WHIP ingest takes H.264, AV1 or VP8 (and Opus)'
          : 'the offer has no H.264 with packetization-mode=1, no AV1 and no VP8: WHIP ingest takes H.264, AV1 or VP8',
    };
  }
  return { video, audio };
}

/**
 * H.264 when one is usable (preferred: every output carries it), else the first AV1 format, else
 * the first VP8 one (neither goes to MPEG-TS HLS or WebRTC playback).
 */
export function chooseWhipVideo(video: {
  readonly mid: string;
  readonly h264: readonly H264Format[];
  readonly av1: readonly number[];
  readonly vp8: readonly number[];
}): WhipVideo | null {
  const h264 = chooseWhipH264Format(video.h264);
  if (h264 !== null) return { mid: video.mid, codec: 'h264', format: h264 };
  const av1 = video.av1[0];
  if (av1 !== undefined) return { mid: video.mid, codec: 'av1', format: { payloadType: av1 } };
  const vp8 = video.vp8[0];
  return vp8 === undefined ? null : { mid: video.mid, codec: 'vp8', format: { payloadType: vp8 } };
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
