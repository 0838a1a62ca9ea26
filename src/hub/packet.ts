// Packet: a frame already encoded for one output format; its bytes go to every viewer as is.
import type { FrameKind } from '../media/frame.ts';

/** One frame's bytes in one format (an FLV tag, RTMP chunks), shared by every viewer. */
export interface Packet {
  readonly bytes: Buffer;
  readonly kind: FrameKind;
  /** A video frame a decoder can start from. */
  readonly keyframe: boolean;
  /** Codec configuration or script data: never dropped, a viewer needs it to decode. */
  readonly essential: boolean;
  readonly dtsMs: number;
}
