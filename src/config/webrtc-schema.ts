// The `webrtc` section of the configuration schema: WHEP playback (docs/webrtc.md).
import { SECOND_MS, bool, host, int, port, section } from './schema-leaves.ts';

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
