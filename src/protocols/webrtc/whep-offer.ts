// A WHEP viewer's SDP offer (RFC 8866, RFC 8829), read for what the answer needs: the mid of the
// video and audio sections, and the payload types they offer for H.264 (RFC 6184 fmtp), AV1 (the
// AOMedia RTP payload format) and VP8 (RFC 7741), both for WHIP, and Opus.
// Bounded and linear: a hostile offer is an error, never work out of proportion to its size.

/** Largest offer read (MediaMTX's cap too). */
export const MAX_OFFER_BYTES = 128 * 1024;
/** Media sections accepted in one offer (a viewer needs two). */
const MAX_MEDIA_SECTIONS = 4;
/** Payload types read per section; browsers offer about 20 for video. */
const MAX_FORMATS = 64;
const MAX_LINE_CHARS = 4096;
const MAX_MID_CHARS = 32;

/** One H.264 format the viewer can receive. */
export interface H264Format {
  readonly payloadType: number;
  /** profile-level-id as 6 hex digits, lower case ('42e01f'), when given. */
  readonly profileLevelId: string | null;
  readonly packetizationMode: number;
}

/** A media section of the offer that onair can send to. */
export interface OfferedMedia {
  readonly mid: string;
  /** The offer's direction: a viewer's section must accept media (recvonly or sendrecv). */
  readonly receives: boolean;
}

/** What onair reads of an offer. */
export interface WhepOffer {
  readonly video:
    | (OfferedMedia & {
        readonly h264: readonly H264Format[];
        /** Payload types of AV1/90000, in offer order (at most MAX_FORMATS, like every list). */
        readonly av1: readonly number[];
        /** Payload types of VP8/90000, in offer order (RFC 7741, for WHIP). */
        readonly vp8: readonly number[];
      })
    | null;
  readonly audio: (OfferedMedia & { readonly opus: number | null }) | null;
}

interface Section {
  kind: string;
  mid: string | null;
  receives: boolean;
  formats: number[];
  rtpmap: Map<number, string>;
  fmtp: Map<number, string>;
}

/** Reads an offer; a string says why it cannot be answered. */
export function parseWhepOffer(sdp: string): WhepOffer | string {
  if (sdp.length > MAX_OFFER_BYTES) return 'the offer is too large';
  if (!sdp.startsWith('v=0')) return 'not an SDP offer (no v=0 line)';
  const sections: Section[] = [];
  let current: Section | null = null;
  for (const raw of sdp.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length > MAX_LINE_CHARS) return 'an SDP line is too long';
    if (line.startsWith('m=')) {
      if (sections.length === MAX_MEDIA_SECTIONS) return 'too many media sections';
      const fields = line.slice(2).split(' ');
      const formats = fields
        .slice(3, 3 + MAX_FORMATS)
        .map(Number)
        .filter((pt) => Number.isInteger(pt) && pt >= 0 && pt <= 127);
      current = {
        kind: fields[0] ?? '',
        mid: null,
        receives: true,
        formats,
        rtpmap: new Map(),
        fmtp: new Map(),
      };
      sections.push(current);
    } else if (current !== null && line.startsWith('a=')) {
      readAttribute(current, line.slice(2));
    }
  }
  if (sections.length === 0) return 'the offer has no media section';
  const video = sections.find((s) => s.kind === 'video');
  const audio = sections.find((s) => s.kind === 'audio');
  return {
    video:
      video?.mid == null
        ? null
        : {
            mid: video.mid,
            receives: video.receives,
            h264: h264Formats(video),
            av1: av1Formats(video),
            vp8: vp8Formats(video),
          },
    audio:
      audio?.mid == null
        ? null
        : { mid: audio.mid, receives: audio.receives, opus: opusFormat(audio) },
  };
}

function readAttribute(section: Section, attribute: string): void {
  const colon = attribute.indexOf(':');
  const name = colon === -1 ? attribute : attribute.slice(0, colon);
  const value = colon === -1 ? '' : attribute.slice(colon + 1);
  switch (name) {
    case 'mid':
      if (value.length > 0 && value.length <= MAX_MID_CHARS && /^[\w.-]+$/.test(value)) {
        section.mid = value;
      }
      return;
    case 'sendonly':
    case 'inactive':
      section.receives = false;
      return;
    case 'recvonly':
    case 'sendrecv':
      section.receives = true;
      return;
    case 'rtpmap':
    case 'fmtp': {
      const space = value.indexOf(' ');
      const pt = Number(value.slice(0, space));
      if (space === -1 || !section.formats.includes(pt)) return;
      const map = name === 'rtpmap' ? section.rtpmap : section.fmtp;
      if (!map.has(pt)) map.set(pt, value.slice(space + 1));
      return;
    }
    default:
  }
}

/** `key=value;key=value` of an fmtp line, keys lower case. */
function fmtpParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) params.set(pair.slice(0, eq).trim().toLowerCase(), pair.slice(eq + 1).trim());
  }
  return params;
}

function h264Formats(section: Section): H264Format[] {
  const out: H264Format[] = [];
  for (const pt of section.formats) {
    if (!/^h264\/90000$/i.test(section.rtpmap.get(pt) ?? '')) continue;
    const params = fmtpParams(section.fmtp.get(pt) ?? '');
    const profile = params.get('profile-level-id')?.toLowerCase() ?? null;
    out.push({
      payloadType: pt,
      profileLevelId: profile !== null && /^[0-9a-f]{6}$/.test(profile) ? profile : null,
      packetizationMode: Number(params.get('packetization-mode') ?? '0'),
    });
  }
  return out;
}

function av1Formats(section: Section): number[] {
  return section.formats.filter((pt) => /^av1\/90000$/i.test(section.rtpmap.get(pt) ?? ''));
}

function vp8Formats(section: Section): number[] {
  return section.formats.filter((pt) => /^vp8\/90000$/i.test(section.rtpmap.get(pt) ?? ''));
}

function opusFormat(section: Section): number | null {
  for (const pt of section.formats) {
    if (/^opus\/48000(?:\/2)?$/i.test(section.rtpmap.get(pt) ?? '')) return pt;
  }
  return null;
}

/**
 * The H.264 payload type to send a stream of `profileIdc` on: packetization-mode 1 (FU-A, what
 * onair sends), the offered profile_idc equal to the stream's if there is one (Baseline 66 also
 * matches Constrained Baseline), else the first mode-1 format. Null when none is mode 1.
 */
export function chooseH264Format(
  formats: readonly H264Format[],
  profileIdc: number,
): H264Format | null {
  const usable = formats.filter((f) => f.packetizationMode === 1);
  const profileOf = (f: H264Format): number =>
    f.profileLevelId === null ? -1 : parseInt(f.profileLevelId.slice(0, 2), 16);
  return usable.find((f) => profileOf(f) === profileIdc) ?? usable[0] ?? null;
}
