// The PROXY protocol header a trusted proxy or load balancer sends before a connection's first
// byte: read off the socket (bounded in bytes and time), then the socket goes to its protocol.
import type { Socket } from 'node:net';
import { CodecError } from '../codecs/codec-error.ts';
import { parseProxyHeader, type ProxyHeader } from '../codecs/proxy-protocol.ts';

/** Why a prelude gave up; `code` is stable (logged and counted). */
export interface ProxyPreludeFailure {
  readonly code: string;
  readonly message: string;
  readonly error?: Error;
}

/** Where the outcome of {@link readProxyPrelude} goes; exactly one is called, once. */
export interface ProxyPreludeHandlers {
  /**
   * The header, or null when the connection starts with its own protocol instead (a proxy's
   * own probe), and the bytes read after it, to hand to the protocol. Called inside the socket's
   * 'data' event: attach the protocol's listeners before returning and no byte is missed.
   */
  readonly done: (header: ProxyHeader | null, rest: Buffer) => void;
  /** A malformed, oversized or late header, or a socket that failed or closed first. */
  readonly fail: (failure: ProxyPreludeFailure) => void;
}

/**
 * Reads a PROXY header (v1 or v2) from the start of `socket`, within `timeoutMs`. Holds at most
 * one read beyond the header's bound (107 bytes for v1, 4 KiB for v2). Listens for errors while
 * it owns the socket; destroys nothing (the caller does, on fail).
 */
export function readProxyPrelude(
  socket: Socket,
  timeoutMs: number,
  handlers: ProxyPreludeHandlers,
): void {
  let buffered: Buffer = Buffer.alloc(0);
  let settled = false;
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onClose);
    return true;
  };
  const fail = (failure: ProxyPreludeFailure): void => {
    if (settle()) handlers.fail(failure);
  };
  const onData = (bytes: Buffer): void => {
    buffered = buffered.length === 0 ? bytes : Buffer.concat([buffered, bytes]);
    let result;
    try {
      result = parseProxyHeader(buffered);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      fail({
        code: error instanceof CodecError ? error.code : 'internal-error',
        message: err.message,
        error: err,
      });
      return;
    }
    if (result.status === 'more' || !settle()) return;
    if (result.status === 'none') handlers.done(null, buffered);
    else handlers.done(result.header, buffered.subarray(result.length));
  };
  const onError = (error: Error): void => {
    fail({ code: 'socket-error', message: error.message, error });
  };
  const onClose = (): void => {
    fail({ code: 'peer-closed', message: 'the peer closed the connection' });
  };
  const timer = setTimeout(() => {
    fail({ code: 'handshake-timeout', message: 'no complete PROXY header in time' });
  }, timeoutMs);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
}
