// Errors the hub raises; servers map them to protocol answers at the edge.

/** Stable codes of hub errors, listed in docs/errors.md. */
export type HubErrorCode = 'ERR_STREAM_BUSY' | 'ERR_STREAM_NAME';

/** Base class of hub errors. */
export class HubError extends Error {
  readonly code: HubErrorCode;

  constructor(code: HubErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A second publisher asked for a path that already has a live publisher. */
export class StreamBusyError extends HubError {
  override readonly name = 'StreamBusyError';

  constructor(path: string) {
    super('ERR_STREAM_BUSY', `Cannot publish ${path}: it already has a publisher`);
  }
}

/** A stream path failed the allow-list (see stream-path.ts). */
export class StreamNameError extends HubError {
  override readonly name = 'StreamNameError';

  constructor(reason: string) {
    super('ERR_STREAM_NAME', `Invalid stream name: ${reason}`);
  }
}
