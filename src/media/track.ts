// Track: one elementary stream of a live Stream (its codec and codec configuration).

/** Video codecs onair carries; enhanced RTMP adds HEVC, AV1, VP9 and VP8 (WHIP AV1 and VP8). */
export type VideoCodec = 'h264' | 'hevc' | 'av1' | 'vp9' | 'vp8';
/** Audio codecs onair carries. */
export type AudioCodec = 'aac' | 'mp3' | 'opus';

/** What a video track is, as parsed from its sequence header. */
export interface VideoTrack {
  readonly kind: 'video';
  readonly codec: VideoCodec;
  /**
   * The codec configuration record exactly as it arrived (AVCDecoderConfigurationRecord,
   * HEVCDecoderConfigurationRecord, AV1CodecConfigurationRecord, VPCodecConfigurationRecord).
   */
  readonly config: Buffer;
  /** Codec profile name or number as a string ('High', 'Main', '0'), when parsed. */
  readonly profile?: string;
  /** Codec level as a string ('3.1'), when parsed. */
  readonly level?: string;
  readonly width?: number;
  readonly height?: number;
}

/** What an audio track is, as parsed from its sequence header (or first frame for MP3). */
export interface AudioTrack {
  readonly kind: 'audio';
  readonly codec: AudioCodec;
  /** AudioSpecificConfig for AAC, OpusHead (dOps body) for Opus, empty for MP3. */
  readonly config: Buffer;
  readonly sampleRate?: number;
  readonly channels?: number;
  /** AAC audio object type name or number, when parsed ('LC'). */
  readonly profile?: string;
}

/** One elementary stream. */
export type Track = VideoTrack | AudioTrack;
