// The one error type every codec raises on bad input: a stable code and the byte offset.

/** Stable codes for malformed wire data; docs/errors.md lists them all (a test keeps it complete). */
export type CodecErrorCode =
  | 'ERR_AMF0_TRUNCATED'
  | 'ERR_AMF0_DEPTH'
  | 'ERR_AMF0_UNSUPPORTED_TYPE'
  | 'ERR_AMF0_TOO_LARGE'
  | 'ERR_RTMP_HANDSHAKE_VERSION'
  | 'ERR_RTMP_CHUNK_SIZE'
  | 'ERR_RTMP_CHUNK_HEADER'
  | 'ERR_RTMP_MESSAGE_TOO_LARGE'
  | 'ERR_RTMP_TOO_MANY_CHUNK_STREAMS'
  | 'ERR_RTMP_BUFFERED_BYTES'
  | 'ERR_RTMP_CONTROL_MESSAGE'
  | 'ERR_PROXY_HEADER'
  | 'ERR_OGG'
  | 'ERR_ADTS'
  | 'ERR_PROXY_TOO_LARGE'
  | 'ERR_FLV_HEADER'
  | 'ERR_FLV_TAG_TOO_LARGE'
  | 'ERR_H264_CONFIG'
  | 'ERR_H264_SPS'
  | 'ERR_AAC_CONFIG'
  | 'ERR_HEVC_CONFIG'
  | 'ERR_AV1_CONFIG'
  | 'ERR_OPUS_HEAD'
  | 'ERR_FMP4_UNSUPPORTED_CODEC'
  | 'ERR_FMP4_FIELD_RANGE'
  | 'ERR_FMP4_PARSE';

/** Raised by codecs/ and media/ on malformed input; never anything else. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code: CodecErrorCode;
  /** Byte offset in the input where the problem was found, when known. */
  readonly offset: number;

  constructor(code: CodecErrorCode, message: string, offset = -1) {
    super(message);
    this.code = code;
    this.offset = offset;
  }
}
