// One RTMP client of the server: the NetConnection/NetStream command state machine
// (connect, createStream, publish, play, deleteStream...) between a socket and the hub.
import type { Socket } from 'node:net';
import type { Amf0Object, Amf0Value } from '../../codecs/amf0.ts';
import { MessageType, UserControlEvent, type RtmpMessage } from '../../codecs/rtmp-message.ts';
import { encodeUint32Payload, encodeSetPeerBandwidth } from '../../codecs/rtmp-message.ts';
import { encodeMessage } from '../../codecs/rtmp-chunk-encoder.ts';
import type { Frame } from '../../media/frame.ts';
import type { RtmpConfig, HubConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import { HubError } from '../../hub/hub-errors.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Publication } from '../../hub/stream.ts';
import type { SharedOutput } from '../../hub/shared-output.ts';
import type { CloseReason } from '../../hub/subscriber.ts';
import { ViewerQueue } from '../../hub/viewer-queue.ts';
import { Csid, RtmpConnection, type RtmpCloseInfo } from '../../protocols/rtmp/rtmp-connection.ts';
import { frameFromMessage } from './rtmp-ingest.ts';
import { appFromConnect, resolveStreamName } from './rtmp-stream-name.ts';

/** What a session needs from the server. */
export interface RtmpSessionContext {
  readonly hub: StreamHub;
  readonly rtmp: RtmpConfig;
  readonly hubConfig: HubConfig;
  readonly logger: Logger;
  readonly onClose: (session: RtmpServerSession, info: RtmpCloseInfo) => void;
}

interface Playback {
  readonly output: SharedOutput;
  readonly queue: ViewerQueue;
}

/** The message types of the three frame kinds, and their chunk streams. */
const TYPE_OF = { video: MessageType.Video, audio: MessageType.Audio, data: MessageType.DataAmf0 };
const CSID_OF = { video: Csid.Video, audio: Csid.Audio, data: Csid.Data };

/**
 * Encodes frames for RTMP viewers: fmt 0 chunks with the stream's absolute timestamps, so the
 * bytes are the same for every viewer playing on message stream `streamId` (one Buffer each).
 */
export function rtmpFrameEncoder(streamId: number, chunkSize: number): (frame: Frame) => Buffer {
  return (frame) =>
    encodeMessage(
      {
        csid: CSID_OF[frame.kind],
        typeId: TYPE_OF[frame.kind],
        streamId,
        timestamp: frame.dtsMs,
        payload: frame.body,
      },
      chunkSize,
    );
}

/** One connection's commands, its publication (if publishing) and its playbacks. */
export class RtmpServerSession {
  readonly connection: RtmpConnection;
  readonly remoteAddress: string;
  readonly #context: RtmpSessionContext;
  readonly #logger: Logger;
  #app: string | null = null;
  #nextStreamId = 1;
  readonly #streamIds = new Set<number>();
  #publishing: { streamId: number; publication: Publication } | null = null;
  readonly #playing = new Map<number, Playback>();
  readonly #ingestState = { mp3Announced: false };
  /** Messages the publisher sent that did not become frames, by reason. */
  readonly skipped = new Map<string, number>();

  constructor(socket: Socket, context: RtmpSessionContext) {
    this.#context = context;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.#logger = context.logger.child({
      peer: `${this.remoteAddress}:${socket.remotePort ?? 0}`,
    });
    const rtmp = context.rtmp;
    this.connection = new RtmpConnection(
      socket,
      {
        role: 'server',
        handshakeTimeoutMs: rtmp.handshakeTimeoutMs,
        maxMessageBytes: rtmp.maxMessageBytes,
        maxCommandBytes: rtmp.maxCommandBytes,
        maxChunkStreams: rtmp.maxChunkStreams,
        ackWindowBytes: rtmp.ackWindowBytes,
        outChunkSize: rtmp.outChunkSize,
      },
      {
        onHandshake: () => undefined,
        onCommand: (message, name, txn, args) => {
          this.#onCommand(message, name, txn, args);
        },
        onMedia: (message) => {
          this.#onMedia(message);
        },
        onClose: (info) => {
          this.#onClose(info);
        },
      },
    );
  }

  /** Ends the session (server shutdown or an operator's kick). */
  close(code: string, message: string): void {
    this.connection.close({ code, message });
  }

  #onCommand(message: RtmpMessage, name: string, txn: number, args: Amf0Value[]): void {
    switch (name) {
      case 'connect':
        this.#connect(txn, args[0]);
        return;
      case 'createStream':
        this.#createStream(txn);
        return;
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
        if (txn !== 0) this.connection.sendCommand(0, ['_result', txn, null]);
        return;
      case 'getStreamLength':
        this.connection.sendCommand(message.streamId, ['_result', txn, null, 0]);
        return;
      case 'publish':
        this.#publish(message.streamId, args[1]);
        return;
      case 'play':
        this.#play(message.streamId, args[1]);
        return;
      case 'deleteStream':
        this.#closeStream(typeof args[1] === 'number' ? args[1] : message.streamId);
        return;
      case 'closeStream':
        this.#closeStream(message.streamId);
        return;
      default:
        this.#logger.debug({ command: name }, 'ignoring an unknown RTMP command');
    }
  }

  #connect(txn: number, command: Amf0Value): void {
    if (this.#app !== null) {
      this.close('connect-twice', 'a second connect on one connection');
      return;
    }
    const object = isObject(command) ? command : null;
    const app = object?.app;
    const tcUrl = object?.tcUrl;
    if (typeof app !== 'string' || typeof tcUrl !== 'string') {
      this.connection.sendCommand(0, [
        '_error',
        txn,
        null,
        status('error', 'NetConnection.Connect.Rejected', 'connect needs a string app and tcUrl'),
      ]);
      this.connection.end({ code: 'connect-rejected', message: 'connect without a string app' });
      return;
    }
    this.#app = appFromConnect(tcUrl, app);
    const window = this.#context.rtmp.ackWindowBytes;
    this.connection.sendControl(MessageType.WindowAckSize, encodeUint32Payload(window));
    this.connection.sendControl(MessageType.SetPeerBandwidth, encodeSetPeerBandwidth(window, 2));
    this.connection.sendCommand(0, [
      '_result',
      txn,
      { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 },
      {
        ...status('status', 'NetConnection.Connect.Success', 'Connection succeeded.'),
        objectEncoding: 0,
      },
    ]);
  }

  #createStream(txn: number): void {
    if (!this.#requireConnect()) return;
    if (this.#streamIds.size >= this.#context.rtmp.maxStreamsPerConnection) {
      this.close('too-many-streams', 'createStream beyond the per-connection limit');
      return;
    }
    const id = this.#nextStreamId++;
    this.#streamIds.add(id);
    this.connection.sendCommand(0, ['_result', txn, null, id]);
  }

  #publish(streamId: number, rawName: Amf0Value): void {
    if (!this.#requireConnect() || this.#app === null) return;
    const resolved =
      typeof rawName === 'string' ? resolveStreamName(this.#app, rawName) : 'not a string';
    if (typeof resolved === 'string' || this.#publishing) {
      const reason = typeof resolved === 'string' ? resolved : 'already publishing';
      this.#refuse(streamId, 'NetStream.Publish.BadName', `bad-name`, reason);
      return;
    }
    let publication: Publication;
    try {
      publication = this.#context.hub.publish(resolved.path, {
        protocol: 'rtmp',
        remoteAddress: this.remoteAddress,
      });
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      this.#refuse(streamId, 'NetStream.Publish.BadName', error.code, error.message);
      return;
    }
    this.connection.clearDeadline();
    this.connection.socket.setTimeout(this.#context.rtmp.idleTimeoutMs, () => {
      this.close('idle-timeout', 'the publisher sent nothing for too long');
    });
    this.#publishing = { streamId, publication };
    this.#logger.info({ stream: resolved.path }, 'publish started');
    this.connection.sendUserControl(UserControlEvent.StreamBegin, streamId);
    this.connection.sendCommand(streamId, [
      'onStatus',
      0,
      null,
      status('status', 'NetStream.Publish.Start', `${resolved.path} is now published.`),
    ]);
  }

  #play(streamId: number, rawName: Amf0Value): void {
    if (!this.#requireConnect() || this.#app === null) return;
    const resolved =
      typeof rawName === 'string' ? resolveStreamName(this.#app, rawName) : 'not a string';
    if (typeof resolved === 'string' || this.#playing.has(streamId)) {
      const reason = typeof resolved === 'string' ? resolved : 'already playing';
      this.#refuse(streamId, 'NetStream.Play.StreamNotFound', 'bad-name', reason);
      return;
    }
    this.connection.clearDeadline();
    const stream = this.#context.hub.open(resolved.path);
    const { rtmp, hubConfig } = this.#context;
    const output = stream.output(`rtmp:${streamId}`, rtmpFrameEncoder(streamId, rtmp.outChunkSize));
    const socket = this.connection.socket;
    const queue = new ViewerQueue(
      {
        write: (bytes) => socket.write(bytes),
        close: (reason) => {
          this.#endPlayback(streamId, reason);
        },
      },
      hubConfig.viewer,
    );
    socket.on('drain', () => {
      queue.drain();
    });
    this.#playing.set(streamId, { output, queue });
    this.#logger.info({ stream: resolved.path }, 'play requested');
    output.addViewer(queue, {
      waitMs: hubConfig.waitForPublisherMs,
      start: () => {
        this.connection.sendUserControl(UserControlEvent.StreamBegin, streamId);
        this.connection.sendCommand(streamId, [
          'onStatus',
          0,
          null,
          status('status', 'NetStream.Play.Reset', `Playing and resetting ${resolved.path}.`),
        ]);
        this.connection.sendCommand(streamId, [
          'onStatus',
          0,
          null,
          status('status', 'NetStream.Play.Start', `Started playing ${resolved.path}.`),
        ]);
        this.connection.send({
          csid: Csid.Data,
          typeId: MessageType.DataAmf0,
          streamId,
          timestamp: 0,
          payload: sampleAccess,
        });
      },
    });
  }

  /** A playback ended from the hub side: tell the player, then end the connection. */
  #endPlayback(streamId: number, reason: CloseReason): void {
    const playback = this.#playing.get(streamId);
    if (!playback) return;
    this.#playing.delete(streamId);
    playback.output.removeViewer(playback.queue);
    if (this.connection.closed) return;
    if (reason === 'not-found') {
      this.#refuse(streamId, 'NetStream.Play.StreamNotFound', 'not-found', 'no publisher came');
      return;
    }
    this.connection.sendUserControl(UserControlEvent.StreamEof, streamId);
    this.connection.sendCommand(streamId, [
      'onStatus',
      0,
      null,
      status('status', 'NetStream.Play.UnpublishNotify', `The stream ended (${reason}).`),
    ]);
    this.connection.end({ code: reason, message: `playback ended: ${reason}` });
  }

  #closeStream(streamId: number): void {
    if (this.#publishing?.streamId === streamId) {
      this.#publishing.publication.close();
      this.#publishing = null;
      this.connection.socket.setTimeout(0);
    }
    const playback = this.#playing.get(streamId);
    if (playback) {
      this.#playing.delete(streamId);
      playback.queue.close('kicked');
      playback.output.removeViewer(playback.queue);
    }
  }

  #onMedia(message: RtmpMessage): void {
    const publishing = this.#publishing;
    if (!publishing || message.streamId !== publishing.streamId) {
      if (message.typeId === MessageType.DataAmf0 && this.#publishing) return;
      this.close('media-before-publish', 'media on a stream that is not publishing');
      return;
    }
    if (message.typeId === MessageType.Aggregate) {
      this.#count('aggregate');
      return;
    }
    const frame = frameFromMessage(message, this.#ingestState);
    if (typeof frame === 'string') {
      this.#count(frame);
      return;
    }
    publishing.publication.write(frame);
  }

  #count(reason: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
  }

  #requireConnect(): boolean {
    if (this.#app !== null) return true;
    this.close('command-before-connect', 'a stream command before connect');
    return false;
  }

  #refuse(streamId: number, code: string, reasonCode: string, description: string): void {
    this.#logger.warn({ reason: reasonCode, description }, 'RTMP request refused');
    this.connection.sendCommand(streamId, [
      'onStatus',
      0,
      null,
      status('error', code, description),
    ]);
    this.connection.end({ code: reasonCode, message: description });
  }

  #onClose(info: RtmpCloseInfo): void {
    if (this.#publishing) {
      this.#logger.info({ stream: this.#publishing.publication.stream.path }, 'publish ended');
      this.#publishing.publication.close();
      this.#publishing = null;
    }
    for (const [, playback] of this.#playing) {
      playback.queue.close('kicked');
      playback.output.removeViewer(playback.queue);
    }
    this.#playing.clear();
    this.#context.onClose(this, info);
  }
}

/** `|RtmpSampleAccess(true, true)`: lets Flash-era players read the frames. */
const sampleAccess = Buffer.from([
  0x02,
  0x00,
  0x11,
  ...Buffer.from('|RtmpSampleAccess'),
  0x01,
  0x01,
  0x01,
  0x01,
]);

function status(level: string, code: string, description: string): Amf0Object {
  return { level, code, description };
}

function isObject(value: Amf0Value): value is Amf0Object {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}
