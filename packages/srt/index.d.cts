/** A listener made by `listen()`. */
export interface NativeListener {
  readonly server: object;
  /** The UDP port bound (the one asked for, or the ephemeral one for 0). */
  readonly port: number;
}

/** What the listen callback answers for one caller. */
export type NativeVerdict =
  | { readonly accept: true; readonly passphrase?: string }
  | { readonly accept: false; readonly reject: number };

/** libsrt's statistics of one socket (srt_bstats, totals since the connection began). */
export interface NativeStats {
  readonly rttMs: number;
  readonly bandwidthMbps: number;
  readonly recvRateMbps: number;
  readonly sendRateMbps: number;
  readonly packetsReceived: number;
  readonly packetsSent: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly packetsReceivedLost: number;
  readonly packetsSentLost: number;
  readonly packetsRetransmitted: number;
  readonly packetsReceivedRetransmitted: number;
  readonly packetsReceivedDropped: number;
  readonly packetsSentDropped: number;
  readonly packetsUndecrypted: number;
  readonly receiveBufferMs: number;
  readonly receiveBufferBytes: number;
  readonly sendBufferMs: number;
  readonly latencyMs: number;
}

export interface ListenOptions {
  readonly host?: string;
  readonly port?: number;
  readonly latencyMs?: number;
  readonly passphrase?: string;
  readonly pbkeylen?: number;
  readonly peerIdleTimeoutMs?: number;
  readonly backlog?: number;
  readonly verdictWaitMs?: number;
}

/** Event types handed to `onEvent`. */
export declare const enum NativeEvent {
  Accept = 1,
  Data = 2,
  Closed = 3,
  Writable = 4,
}

export interface NativeBinding {
  listen(
    options: ListenOptions,
    onVerdict: (sock: number, streamId: string, ip: string, port: number) => NativeVerdict,
    onEvent: (
      type: number,
      sock: number,
      payload: Buffer | string | null,
      ip: string,
      port: number,
      state: number,
    ) => void,
  ): NativeListener;
  close(server: object): void;
  send(server: object, sock: number, bytes: Buffer): number;
  closeSocket(sock: number): void;
  stats(sock: number): NativeStats | null;
  version(): string;
}

export declare const binding: NativeBinding | null;
export declare const whyNot: string | null;
