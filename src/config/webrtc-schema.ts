// The `webrtc` section of the configuration schema: WHEP playback (docs/webrtc.md).
import { isIP } from 'node:net';
import { z } from 'zod';
import { SECOND_MS, bool, host, int, port, section } from './schema-leaves.ts';

/** At most this many webrtc.additionalHosts entries (each address gets a UDP and a TCP candidate). */
export const MAX_ADDITIONAL_HOSTS = 16;

/** The entries of a comma-separated webrtc.additionalHosts (trimmed, empty ones left out). */
export function additionalHostsOf(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** One DNS label: letters, digits and inner hyphens, 1 to 63 characters (no backtracking). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A host name: at most 253 characters of labels (a final dot allowed). */
function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label));
}

/** The entries of webrtc.additionalHosts that are neither an IP address nor a host name. */
export function badAdditionalHosts(text: string): string[] {
  const entries = additionalHostsOf(text);
  const bad = entries.filter((entry) => isIP(entry) === 0 && !isHostName(entry));
  if (entries.length > MAX_ADDITIONAL_HOSTS)
    bad.push(`(more than ${MAX_ADDITIONAL_HOSTS} entries)`);
  return bad;
}

export const webrtcSchema = section(
  {
    enabled: bool(
      true,
      'Serve WebRTC playback (WHEP) at /<app>/<name>/whep; off, or without the native WebRTC library, those URLs answer 404.',
    ),
    udpPort: port(8189, 'The one UDP port every WebRTC peer uses (ICE, DTLS and media).'),
    bindAddress: host(
      'The address the UDP port listens on; its ICE candidates carry it (0.0.0.0: every interface).',
    ),
    additionalHosts: z
      .string()
      .max(4096)
      .refine((text) => badAdditionalHosts(text).length === 0, {
        error: (issue) =>
          `not an IP address or host name: ${badAdditionalHosts(String(issue.input)).join(', ')}`,
      })
      .default('')
      .describe(
        'More addresses every WebRTC answer announces, on the UDP port and the ICE-TCP port: comma-separated IPs or host names (resolved by onair at start and every minute), for a server behind NAT, in a container, or with a public IP on no interface.',
      ),
    tcpPort: port(
      8189,
      'The TCP port of ICE over TCP (RFC 6544), for viewers and publishers whose UDP is blocked; 0: off.',
    ),
    handshakeTimeoutMs: int({
      min: SECOND_MS,
      max: 60 * SECOND_MS,
      default: 10 * SECOND_MS,
      description:
        'A WebRTC viewer whose offer does not arrive, or whose connection is not up, this long after its request is dropped.',
    }),
    opusFromAac: bool(
      true,
      'Give WebRTC viewers of an AAC stream its audio as Opus, made by one ffmpeg per stream while it has WebRTC viewers; off, they get the picture alone.',
    ),
  },
  'WebRTC playback: WHEP viewers of any stream with H.264 video (Opus audio, or AAC made Opus).',
);
