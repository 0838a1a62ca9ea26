// One RTMP client of the server: the NetConnection/NetStream command state machine
// (connect, createStream, publish, play, deleteStream...) between a socket and the hub.
import type { Socket } from 'node:net';
import type { Amf0Object, Amf0Value } from '../../codecs/amf0.ts';
import {
  Csid,
  MessageType,
  UserControlEvent,
  type RtmpMessage,
} from '../../codecs/rtmp-message.ts';
import { encodeUint32Payload, encodeSetPeerBandwidth } from '../../codecs/rtmp-message.ts';
import type { RtmpConfig, HubConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import { HubError } from '../../hub/hub-errors.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Publication } from '../../hub/stream.ts';
import type { SharedOutput } from '../../hub/shared-output.ts';
import type { CloseReason } from '../../hub/subscriber.ts';
import { ViewerQueue } from '../../hub/viewer-queue.ts';
import { RtmpConnection, type RtmpCloseInfo } from '../../protocols/rtmp/rtmp-connection.ts';
import { isRelayFlashVer } from '../../protocols/rtmp/rtmp-client.ts';
import type { AccessControl, PublishAttempt } from '../../access/access-control.ts';
import {
  parseAdobeQuery,
  verifyAdobeResponse,
  type AdobeChallenges,
} from '../../access/adobe-auth.ts';
import { SessionRegistry, type Session, type SessionSlot } from '../../hub/session-registry.ts';
import { RtmpIngestState, frameFromMessage, rtmpFrameEncoder } from '../../media/rtmp-frames.ts';
import { splitMultitrackVideo } from '../../media/multitrack.ts';
import { MultitrackRenditions } from './multitrack-renditions.ts';
import { appFromConnect, resolveStreamName } from './rtmp-stream-name.ts';
import {
  MAX_LOGGED_COMMAND_LENGTH,
  MAX_STREAM_NAME_LENGTH,
  overLongConnectField,
} from './rtmp-command-limits.ts';

/** What a session needs from the server. */
export interface RtmpSessionContext {
  readonly hub: StreamHub;
  readonly rtmp: RtmpConfig;
  readonly hubConfig: HubConfig;
  readonly logger: Logger;
  readonly access: AccessControl;
  readonly sessions: SessionRegistry;
  /** Salts and challenges of the Adobe authentication (OBS "Use authentication"). */
  readonly adobeChallenges: AdobeChallenges;
  /** limits.maxPublishKbps: a publisher above it over a 10 s window is closed; 0: no cap. */
  readonly maxPublishKbps: number;
  readonly onClose: (session: RtmpServerSession, info: RtmpCloseInfo) => void;
}

/** Where a connection comes from, when the socket's own view is not the whole story. */
export interface RtmpSessionStart {
  /** The client: from a PROXY header, or the socket's peer. */
  readonly peer: { readonly address: string; readonly port: number };
  /** The trusted proxy the connection came through (the socket's peer), for the logs. */
  readonly proxy?: string;
  /** What is left of rtmp.handshakeTimeoutMs after reading the PROXY header. */
  readonly handshakeTimeoutMs: number;
}

interface Playback {
  readonly output: SharedOutput;
  readonly queue: ViewerQueue;
  readonly session: Session;
}

/** The window over which limits.maxPublishKbps is measured. */
const BITRATE_WINDOW_MS = 10_000;

/** One connection's commands, its publication (if publishing) and its playbacks. */
export class RtmpServerSession {
  readonly connection: RtmpConnection;
  readonly remoteAddress: string;
  readonly #context: RtmpSessionContext;
  readonly #logger: Logger;
  #app: string | null = null;
  /** The client's flashVer from connect (its "user agent"). */
  #flashVer: string | null = null;
  /** Adobe credentials from the connect, checked against the stream's key at publish. */
  #adobe: PublishAttempt['adobe'] | undefined;
  #nextStreamId = 1;
  /** The renditions this publisher sends as multitrack video, once it sends one. */
  #renditions: MultitrackRenditions | null = null;
  readonly #streamIds = new Set<number>();
  #publishing: { streamId: number; publication: Publication; session: Session } | null = null;
  /** A publish waiting for its decision (keys, on_publish): media is dropped until then. */
  #publishPending = false;
  /** Message streams with a play waiting for its decision. */
  readonly #playPending = new Set<number>();
  /** Bytes received (for the session record and the hooks). */
  #bytesIn = 0;
  /** The bitrate cap's current window: its start (ms) and the bytes at its start. */
  #rateWindow = { startMs: 0, bytes: 0 };
  readonly #playing = new Map<number, Playback>();
  readonly #ingestState = new RtmpIngestState();
  /** Messages the publisher sent that did not become frames, by reason. */
  readonly skipped = new Map<string, number>();

  constructor(socket: Socket, context: RtmpSessionContext, start?: RtmpSessionStart) {
    this.#context = context;
    const rtmp = context.rtmp;
    // Everything that names the client (caps, access, sessions, logs) uses this address.
    const peer = start?.peer ?? {
      address: socket.remoteAddress ?? 'unknown',
      port: socket.remotePort ?? 0,
    };
    this.remoteAddress = peer.address;
    this.#logger = context.logger.child({
      peer: `${peer.address}:${peer.port}`,
      ...(start?.proxy === undefined ? {} : { proxy: start.proxy }),
    });
    this.connection = new RtmpConnection(
      socket,
      {
        role: 'server',
        handshakeTimeoutMs: start?.handshakeTimeoutMs ?? rtmp.handshakeTimeoutMs,
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
        this.#logger.debug(
          { command: name.slice(0, MAX_LOGGED_COMMAND_LENGTH) },
          'ignoring an unknown RTMP command',
        );
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
    if (object === null || typeof app !== 'string' || typeof tcUrl !== 'string') {
      this.#rejectConnect(txn, 'connect-rejected', 'connect needs a string app and tcUrl');
      return;
    }
    const tooLong = overLongConnectField(object);
    if (tooLong !== null) {
      const { field, cap } = tooLong;
      this.#rejectConnect(txn, 'field-too-long', `${field} is longer than ${cap} characters`);
      return;
    }
    if (!this.#adobeAuth(txn, tcUrl, app)) return;
    const flashVer = object.flashVer;
    if (typeof flashVer === 'string') this.#flashVer = flashVer.slice(0, 200);
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

  /** Answers `connect` with NetConnection.Connect.Rejected and ends the connection (logged at close). */
  #rejectConnect(txn: number, reason: string, description: string): void {
    this.connection.sendCommand(0, [
      '_error',
      txn,
      null,
      status('error', 'NetConnection.Connect.Rejected', description),
    ]);
    this.connection.end({ code: reason, message: description });
  }

  /**
   * Adobe challenge authentication, when the connect asks for it (`?authmod=adobe&user=U`):
   * the first connect gets a challenge and is rejected, the second carries the response, which
   * is kept and checked against the stream's publish key at publish. False when rejected.
   */
  #adobeAuth(txn: number, tcUrl: string, app: string): boolean {
    const query = tcUrl.split('?')[1] ?? app.split('?')[1] ?? '';
    const adobe = parseAdobeQuery(query);
    if (adobe === null) return true;
    const reject = (description: string, reason: string): false => {
      this.connection.sendCommand(0, [
        '_error',
        txn,
        null,
        status('error', 'NetConnection.Connect.Rejected', description),
      ]);
      this.connection.end({ code: reason, message: 'Adobe authentication step' });
      return false;
    };
    const { adobeChallenges } = this.#context;
    if (adobe.response === undefined || adobe.opaque === undefined) {
      return reject(adobeChallenges.issue(adobe.user).description, 'adobe-challenge');
    }
    const issued = adobeChallenges.take(adobe.opaque);
    if (issued?.user !== adobe.user || adobe.challenge === undefined) {
      return reject(
        '[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed&opaque=',
        'adobe-failed',
      );
    }
    const { user, challenge: clientChallenge = '', response = '', opaque = '' } = adobe;
    this.#adobe = {
      user,
      check: (password) =>
        verifyAdobeResponse({
          user,
          password,
          salt: issued.salt,
          challenge: issued.challenge,
          opaque,
          clientChallenge,
          response,
        }),
    };
    return true;
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
    if (isOverLongName(rawName)) {
      this.#refuse(streamId, 'NetStream.Publish.BadName', 'field-too-long', overLongNameReason);
      return;
    }
    const resolved =
      typeof rawName === 'string' ? resolveStreamName(this.#app, rawName) : 'not a string';
    if (typeof resolved === 'string' || this.#publishing || this.#publishPending) {
      const reason = typeof resolved === 'string' ? resolved : 'already publishing';
      this.#refuse(streamId, 'NetStream.Publish.BadName', `bad-name`, reason);
      return;
    }
    this.#publishPending = true;
    const sessionId = SessionRegistry.newId();
    const { access } = this.#context;
    access
      .authorizePublish({
        path: resolved.path,
        ip: this.remoteAddress,
        protocol: 'rtmp',
        query: resolved.query,
        sessionId,
        ...(this.#adobe ? { adobe: this.#adobe } : {}),
        reserve: true,
      })
      .then(
        (result) => {
          this.#publishPending = false;
          if (this.connection.closed) {
            if (result.ok) result.slot?.release(); // it left during the decision
            return;
          }
          if (!result.ok) {
            const code =
              result.status === 401
                ? 'NetStream.Publish.Unauthorized'
                : 'NetStream.Publish.Rejected';
            this.#refuse(streamId, code, result.code, result.message);
            return;
          }
          this.#startPublish(streamId, resolved.path, sessionId, result.slot);
        },
        (error: unknown) => {
          this.#publishPending = false;
          this.#logger.error({ err: error }, 'publish authorization failed');
          this.#refuse(
            streamId,
            'NetStream.Publish.Rejected',
            'auth-error',
            'authorization failed',
          );
        },
      );
  }

  #startPublish(streamId: number, path: string, sessionId: string, slot?: SessionSlot): void {
    let publication: Publication;
    try {
      publication = this.#context.hub.publish(path, {
        protocol: 'rtmp',
        remoteAddress: this.remoteAddress,
      });
    } catch (error) {
      slot?.release();
      if (!(error instanceof HubError)) throw error;
      this.#refuse(streamId, 'NetStream.Publish.BadName', error.code, error.message);
      return;
    }
    this.connection.clearDeadline();
    this.connection.socket.setTimeout(this.#context.rtmp.idleTimeoutMs, () => {
      this.close('idle-timeout', 'the publisher sent nothing for too long');
    });
    const session = this.#context.sessions.add(
      {
        id: sessionId,
        role: 'publisher',
        protocol: 'rtmp',
        path,
        ip: this.remoteAddress,
        close: (reason) => {
          this.close('kicked', reason);
        },
        bytes: () => this.#bytesIn,
      },
      slot,
    );
    this.#publishing = { streamId, publication, session };
    this.#logger.info({ stream: path }, 'publish started');
    this.connection.sendUserControl(UserControlEvent.StreamBegin, streamId);
    this.connection.sendCommand(streamId, [
      'onStatus',
      0,
      null,
      status('status', 'NetStream.Publish.Start', `${path} is now published.`),
    ]);
  }

  /** Ends the publication: the hub, the registry and the on_unpublish hook hear of it. */
  #stopPublishing(reason: string): void {
    const publishing = this.#publishing;
    if (!publishing) return;
    this.#publishing = null;
    this.#logger.info({ stream: publishing.publication.stream.path }, 'publish ended');
    this.#renditions?.close();
    this.#renditions = null;
    publishing.publication.close();
    this.#context.sessions.remove(publishing.session, { reason });
  }

  #play(streamId: number, rawName: Amf0Value): void {
    if (!this.#requireConnect() || this.#app === null) return;
    if (isOverLongName(rawName)) {
      const code = 'NetStream.Play.StreamNotFound';
      this.#refuse(streamId, code, 'field-too-long', overLongNameReason);
      return;
    }
    const resolved =
      typeof rawName === 'string' ? resolveStreamName(this.#app, rawName) : 'not a string';
    if (
      typeof resolved === 'string' ||
      this.#playing.has(streamId) ||
      this.#playPending.has(streamId)
    ) {
      const reason = typeof resolved === 'string' ? resolved : 'already playing';
      this.#refuse(streamId, 'NetStream.Play.StreamNotFound', 'bad-name', reason);
      return;
    }
    this.connection.clearDeadline();
    this.#playPending.add(streamId);
    const sessionId = SessionRegistry.newId();
    // Another node pulling for its viewers is not a viewer: no viewer limit stops it.
    const pull = this.#context.access.isClusterPull(
      resolved.path,
      resolved.query,
      this.remoteAddress,
    );
    this.#context.access
      .authorizePlay({
        path: resolved.path,
        ip: this.remoteAddress,
        protocol: 'rtmp',
        query: resolved.query,
        sessionId,
        counted: !pull,
        reserve: !pull,
      })
      .then(
        (result) => {
          this.#playPending.delete(streamId);
          if (this.connection.closed) {
            if (result.ok) result.slot?.release(); // it left during the decision
            return;
          }
          if (!result.ok) {
            this.#refuse(streamId, 'NetStream.Play.Failed', result.code, result.message);
            return;
          }
          this.#startPlay(streamId, resolved.path, sessionId, pull, result.slot);
        },
        (error: unknown) => {
          this.#playPending.delete(streamId);
          this.#logger.error({ err: error }, 'play authorization failed');
          this.#refuse(streamId, 'NetStream.Play.Failed', 'auth-error', 'authorization failed');
        },
      );
  }

  #startPlay(
    streamId: number,
    path: string,
    sessionId: string,
    pull: boolean,
    slot?: SessionSlot,
  ): void {
    // Another server pulling this stream: it must not make this one pull for it in turn.
    const byRelay = pull || isRelayFlashVer(this.#flashVer);
    const stream = this.#context.hub.open(path, { byRelay });
    const { rtmp, hubConfig } = this.#context;
    const output = stream.output(`rtmp:${streamId}`, rtmpFrameEncoder(streamId, rtmp.outChunkSize));
    const socket = this.connection.socket;
    let bytesOut = 0;
    const queue = new ViewerQueue(
      {
        write: (bytes) => {
          bytesOut += bytes.length;
          return socket.write(bytes);
        },
        close: (reason) => {
          this.#endPlayback(streamId, reason);
        },
      },
      hubConfig.viewer,
    );
    socket.on('drain', () => {
      queue.drain();
    });
    const session = this.#context.sessions.add(
      {
        id: sessionId,
        role: 'viewer',
        // Another server's pull: listed apart, so viewers summed across nodes count people.
        protocol: pull ? 'relay' : 'rtmp',
        path,
        ip: this.remoteAddress,
        close: (reason) => {
          this.close('kicked', reason);
        },
        bytes: () => bytesOut,
        droppedFrames: () => queue.droppedFrames,
        queueDepth: () => queue.depth,
        ...(this.#flashVer === null ? {} : { userAgent: this.#flashVer }),
      },
      slot,
    );
    this.#playing.set(streamId, { output, queue, session });
    this.#logger.info({ stream: path }, 'play requested');
    output.addViewer(queue, {
      waitMs: hubConfig.waitForPublisherMs,
      start: () => {
        this.connection.sendUserControl(UserControlEvent.StreamBegin, streamId);
        this.connection.sendCommand(streamId, [
          'onStatus',
          0,
          null,
          status('status', 'NetStream.Play.Reset', `Playing and resetting ${path}.`),
        ]);
        this.connection.sendCommand(streamId, [
          'onStatus',
          0,
          null,
          status('status', 'NetStream.Play.Start', `Started playing ${path}.`),
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

  /** Forgets a playback: the registry and the on_stop hook hear of it. */
  #forgetPlayback(playback: Playback, reason: string): void {
    this.#context.sessions.remove(playback.session, { reason });
  }

  /** A playback ended from the hub side: tell the player, then end the connection. */
  #endPlayback(streamId: number, reason: CloseReason): void {
    const playback = this.#playing.get(streamId);
    if (!playback) return;
    this.#playing.delete(streamId);
    playback.output.removeViewer(playback.queue);
    this.#forgetPlayback(playback, reason);
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
    const publishing = this.#publishing?.streamId === streamId;
    if (publishing) {
      this.#stopPublishing('deleteStream');
      this.connection.socket.setTimeout(0);
    }
    const playback = this.#playing.get(streamId);
    if (playback) {
      this.#playing.delete(streamId);
      playback.queue.close('kicked');
      playback.output.removeViewer(playback.queue);
      this.#forgetPlayback(playback, 'deleteStream');
    }
    if ((publishing || playback) && this.#idle()) {
      // Nothing left to wait for: without a deadline the connection would hold its slot forever.
      this.connection.armDeadline(this.#context.rtmp.idleTimeoutMs, {
        code: 'idle-timeout',
        message: 'no publish or play after deleteStream',
      });
    }
  }

  /** Neither publishing nor playing, nor waiting for a decision to. */
  #idle(): boolean {
    return (
      this.#publishing === null &&
      !this.#publishPending &&
      this.#playing.size === 0 &&
      this.#playPending.size === 0
    );
  }

  #onMedia(message: RtmpMessage): void {
    const publishing = this.#publishing;
    if (this.#publishPending) {
      this.#count('before-publish-decision'); // nothing flows before the answer
      return;
    }
    if (!publishing || message.streamId !== publishing.streamId) {
      if (message.typeId === MessageType.DataAmf0 && this.#publishing) return;
      this.close('media-before-publish', 'media on a stream that is not publishing');
      return;
    }
    if (message.typeId === MessageType.Aggregate) {
      this.#count('aggregate');
      return;
    }
    this.#bytesIn += message.payload.length;
    if (this.#context.maxPublishKbps > 0) this.#checkBitrate();
    const tracks =
      message.typeId === MessageType.Video ? splitMultitrackVideo(message.payload) : null;
    if (tracks === null) {
      this.#ingest(message, publishing.publication);
      return;
    }
    if (typeof tracks === 'string') {
      this.#count(tracks);
      return;
    }
    // Enhanced RTMP multitrack: track 0 is this stream, the others its renditions.
    for (const { trackId, body } of tracks) {
      const single = { ...message, payload: body };
      if (trackId === 0) {
        this.#ingest(single, publishing.publication);
        continue;
      }
      this.#renditions ??= new MultitrackRenditions({
        hub: this.#context.hub,
        source: publishing.publication.stream.path,
        remoteAddress: this.remoteAddress,
        logger: this.#logger,
      });
      const skipped = this.#renditions.write(trackId, single);
      if (skipped !== null) this.#count(skipped);
    }
  }

  #ingest(message: RtmpMessage, publication: Publication): void {
    const frame = frameFromMessage(message, this.#ingestState);
    if (typeof frame === 'string') {
      this.#count(frame);
      return;
    }
    publication.write(frame);
  }

  /** Closes a publisher whose ingest over the last 10 s is above limits.maxPublishKbps. */
  #checkBitrate(): void {
    const now = Date.now();
    const window = this.#rateWindow;
    if (window.startMs === 0) {
      this.#rateWindow = { startMs: now, bytes: this.#bytesIn };
      return;
    }
    const elapsedMs = now - window.startMs;
    if (elapsedMs < BITRATE_WINDOW_MS) return;
    const kbps = ((this.#bytesIn - window.bytes) * 8) / elapsedMs;
    this.#rateWindow = { startMs: now, bytes: this.#bytesIn };
    if (kbps > this.#context.maxPublishKbps) {
      this.close(
        'bitrate-cap',
        `ingest at ${Math.round(kbps)} kbps is above limits.maxPublishKbps (${this.#context.maxPublishKbps})`,
      );
    }
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
    this.#stopPublishing(info.code);
    // Cleared first: closing a queue calls #endPlayback, which then finds nothing to forget
    // twice, and the one on_stop carries the real reason.
    const playbacks = [...this.#playing.values()];
    this.#playing.clear();
    for (const playback of playbacks) {
      playback.queue.close('kicked');
      playback.output.removeViewer(playback.queue);
      this.#forgetPlayback(playback, info.code);
    }
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

/** A publish or play name (with its query) over MAX_STREAM_NAME_LENGTH. */
function isOverLongName(name: Amf0Value): boolean {
  return typeof name === 'string' && name.length > MAX_STREAM_NAME_LENGTH;
}

const overLongNameReason = `the stream name is longer than ${MAX_STREAM_NAME_LENGTH} characters`;

function status(level: string, code: string, description: string): Amf0Object {
  return { level, code, description };
}

function isObject(value: Amf0Value): value is Amf0Object {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}
