// Onair: the composition root. Config in, instances wired, start and stop in order.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { StreamHub } from '../hub/stream-hub.ts';
import type { Stream } from '../hub/stream.ts';
import { RtmpServer } from '../servers/rtmp/rtmp-server.ts';
import { HttpFlvHandler } from '../servers/http-flv/http-flv-handler.ts';
import { WhepHandler } from '../servers/webrtc/whep-handler.ts';
import { WhipHandler } from '../servers/webrtc/whip-handler.ts';
import { SrtServer } from '../servers/srt/srt-server.ts';
import type { AudioToOpusFactory } from '../servers/webrtc/rtp-stream.ts';
import { AacToOpusTranscoder, OpusToAacTranscoder } from '../transcode/audio-transcoder.ts';
import { OpusAsAacAdapter, SharedAudioTranscoders } from '../transcode/opus-as-aac.ts';
import type { OutputAdapterFactory } from '../hub/subscriber.ts';
import { loadWebRtc } from '../protocols/webrtc/load-webrtc.ts';
import { IceNetwork } from '../protocols/webrtc/ice-network.ts';
import { HlsHandler } from '../servers/hls/hls-handler.ts';
import { hlsProfile } from '../servers/hls/hls-profile.ts';
import { isRecordingPath, VodHandler } from '../servers/vod/vod-handler.ts';
import { Recordings } from '../recording/recordings.ts';
import { StreamPushes } from '../relay/stream-pushes.ts';
import { AbrLadders } from '../transcode/abr-ladder.ts';
import type { FragmentsRequest } from '../hub/fragmenters.ts';
import { PagesHandler } from '../servers/pages/pages-handler.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HttpListener } from './http-listener.ts';
import { Monitoring } from './monitoring-setup.ts';
import { Cluster } from './cluster-setup.ts';
import { EgressMeter } from './egress-meter.ts';
import { WorkerLink } from './worker-link.ts';
import { CLIENT_HEADER } from './hls-forwarder.ts';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { allStreamInfo } from './monitoring.ts';
import { MemoryBudget } from './memory-budget.ts';
import { DashboardHandler } from '../servers/pages/dashboard-handler.ts';
import { SessionRegistry } from '../hub/session-registry.ts';
import { checkStreamPath } from '../hub/stream-path.ts';
import { AccessControl } from '../access/access-control.ts';
import { AccessStore } from '../access/access-store.ts';
import { AddressList, isValidCidr } from '../access/cidr.ts';
import { ClientAddresses } from '../access/client-address.ts';
import { parseDuration } from '../access/duration.ts';
import { createJwtVerifier } from '../access/jwt.ts';
import { deriveKeys, type AccessKeys } from '../access/keys.ts';
import { signToken } from '../access/tokens.ts';
import { WebhookClient } from '../access/webhooks.ts';
import { loadOrCreateSecret } from '../api/secret-file.ts';
import { createApiApp } from '../api/api-app.ts';

/** Where a started server listens (ports resolved, useful when 0 was asked for). */
export interface ListeningAddresses {
  readonly rtmpPort: number | null;
  readonly httpPort: number | null;
  /** The SRT listener's UDP port; null when SRT is off (srt.enabled, or libsrt missing). */
  readonly srtPort: number | null;
}

/** One onair server: a hub, the RTMP server and the HTTP listener. */
export class Onair {
  readonly config: Config;
  readonly hub: StreamHub;
  readonly sessions = new SessionRegistry();
  /** What this node sends to viewers (limits.maxEgressMbps, the cluster's node loads). */
  readonly egress = new EgressMeter(this.sessions);
  readonly access: AccessControl;
  /** Client addresses behind server.trustedProxies. */
  readonly addresses: ClientAddresses;
  readonly memory: MemoryBudget;
  /** The auth secret (auth.secret, or the one kept in the data directory): keys derive from it. */
  readonly secret: string;
  /** One key per purpose, derived from the secret (tokens, HLS media URIs, hooks). */
  readonly keys: AccessKeys;
  /** The admin API's bearer token, and whether it was just generated (print it once). */
  readonly apiToken: { readonly value: string; readonly created: boolean };
  readonly #store: AccessStore;
  readonly #hooks: WebhookClient;
  #api: FastifyInstance | null = null;
  readonly #logger: Logger;
  readonly #rtmp: RtmpServer | null;
  readonly #http: HttpListener | null;
  /** SRT ingest and playback (one worker of a group binds the UDP port). */
  readonly srt: SrtServer | null;
  readonly #hls: HlsHandler | null;
  /** Recording, the catalogue, retention. */
  readonly recordings: Recordings;
  /** Restreams to other RTMP/RTMPS services (streams.<path>.push and the API). */
  readonly pushes: StreamPushes;
  /** ABR ladders: one supervised ffmpeg per stream with renditions (in the publisher's worker). */
  readonly abr: AbrLadders;
  readonly #pages: PagesHandler;
  /** WebRTC's extra answer candidates and ICE over TCP (with WHEP). */
  #iceNetwork: IceNetwork | null = null;
  readonly #monitoring: Monitoring;
  readonly cluster: Cluster;
  /** In a worker of a group (--workers): the link to the primary; null alone. */
  readonly #worker: WorkerLink | null;
  #reportTimer: NodeJS.Timeout | null = null;
  /** Which worker makes the HLS of a stream, as last asked (see #hlsOwner). */
  readonly #owners = new Map<string, { readonly base: string | null; readonly untilMs: number }>();
  #ports: { rtmp: number | null; http: number | null } = { rtmp: null, http: null };
  #health: 'ok' | 'starting' | 'stopping' = 'starting';

  /** `inWorkerGroup`: this process is one worker of `onair --workers N` (see workers.ts). */
  constructor(
    config: Config,
    logger: Logger,
    options: { readonly inWorkerGroup?: boolean; readonly workerIndex?: number } = {},
  ) {
    this.config = config;
    this.#logger = logger;
    this.#worker =
      options.inWorkerGroup === true
        ? new WorkerLink({
            onAccessChanged: () => {
              try {
                this.#store.reload();
              } catch (error) {
                logger.error({ err: error }, 'the access store changed but cannot be read');
              }
            },
            metricsJson: async () => (await this.#monitoring.metrics?.renderJson()) ?? null,
          })
        : null;
    this.hub = new StreamHub({
      gopCache: config.hub.gopCache,
      reconnectGraceMs: config.hub.reconnectGraceMs,
      audioMergeMs: config.hub.audioMergeMs,
      adaptOutput: opusAsAacForFlv(
        logger,
        (path) => this.hub.get(path)?.publisher?.info.protocol === 'webrtc',
      ),
      onSubscriberError: (stream, error) => {
        logger.error({ stream: stream.path, err: error }, 'a subscriber failed and was removed');
      },
      onListenerError: (error, event) => {
        logger.error({ err: error, event: event.type }, 'a hub event listener failed');
      },
    });
    mkdirSync(config.dataDir, { recursive: true });
    this.addresses = new ClientAddresses(
      config.server.trustedProxies,
      config.server.forwardedHeader,
    );
    this.memory = new MemoryBudget({
      maxMemoryMB: config.limits.maxMemoryMB,
      onChange: (over, figures) => {
        const fields = { usedBytes: figures.usedBytes, budgetBytes: figures.budgetBytes };
        if (over)
          logger.warn(fields, 'over the memory budget: refusing new publishers and viewers');
        else logger.info(fields, 'back under the memory budget');
      },
    });
    this.secret =
      config.auth.secret || loadOrCreateSecret(join(config.dataDir, 'auth-secret')).value;
    this.keys = deriveKeys(this.secret);
    this.apiToken = config.api.token
      ? { value: config.api.token, created: false }
      : loadOrCreateSecret(join(config.dataDir, 'api-token'));
    this.#store = AccessStore.open(join(config.dataDir, 'access.json'));
    const worker = this.#worker;
    if (worker) {
      // Keys and private flags set through one worker's API hold on every worker.
      this.#store.onChange = () => {
        worker.accessChanged();
      };
    }
    const hookLogger = logger.child({ component: 'hooks' });
    this.#hooks = new WebhookClient({
      urls: {
        on_publish: config.hooks.onPublish,
        on_unpublish: config.hooks.onUnpublish,
        on_play: config.hooks.onPlay,
        on_stop: config.hooks.onStop,
        on_record: config.hooks.onRecord,
      },
      // Never the token key: a receiver holding it could mint play and publish tokens.
      secret: config.hooks.secret || this.keys.hooks,
      timeoutMs: config.hooks.timeoutMs,
      failOpen: config.hooks.failOpen,
      retries: config.hooks.retries,
      onResult: (action, result) => {
        this.#monitoring.metrics?.observeHook(action, result.durationMs, result.ok);
        const fields = {
          hook: action,
          ok: result.ok,
          ms: result.durationMs,
          reason: result.reason,
        };
        if (result.ok) hookLogger.debug(fields, 'hook answered');
        else hookLogger.warn(fields, 'hook failed or refused');
      },
    });
    this.access = new AccessControl({
      config,
      renditionSourceOf: (path) => this.#renditionSourceOf(path),
      keys: this.keys,
      store: this.#store,
      sessions: this.sessions,
      hooks: this.#hooks,
      overMemoryBudget: () => this.memory.over,
      overEgress: () =>
        config.limits.maxEgressMbps > 0 && this.egress.mbps >= config.limits.maxEgressMbps,
      jwt: createJwtVerifier({
        ...(config.auth.jwtSecret ? { secret: config.auth.jwtSecret } : {}),
        ...(config.auth.jwksUrl ? { jwksUrl: config.auth.jwksUrl } : {}),
        algorithms: config.auth.jwtAlgorithms.split(','),
        ...(config.auth.jwtIssuer ? { issuer: config.auth.jwtIssuer } : {}),
        ...(config.auth.jwtAudience ? { audience: config.auth.jwtAudience } : {}),
        requireExp: config.auth.jwtRequireExp,
      }),
      logger,
    });
    this.recordings = new Recordings({
      config: config.recording,
      streams: config.streams,
      dataDir: config.dataDir,
      hub: this.hub,
      logger,
      fragments: (path) => recordingFragments(config, path),
      onRecord: (info) => {
        this.#hooks.notify({
          action: 'on_record',
          id: info.id,
          stream: info.stream,
          protocol: 'recording',
          ip: '',
          file: info.file,
          durationS: Math.round(info.durationMs / 1000),
          bytes: info.bytes,
        });
      },
    });
    this.pushes = new StreamPushes({
      hub: this.hub,
      destinations: (path) => config.streams[path]?.push ?? [],
      logger: logger.child({ component: 'push' }),
      connectTimeoutMs: PUSH_CONNECT_TIMEOUT_MS,
      limits: config.hub.viewer,
      backoff: PUSH_BACKOFF,
    });
    this.abr = new AbrLadders({
      config: config.abr,
      streams: config.streams,
      hub: this.hub,
      hubConfig: config.hub,
      logger,
    });
    this.cluster = new Cluster({
      config: config.cluster,
      hub: this.hub,
      logger,
      mapKey: this.keys.cluster,
      load: () => ({
        viewers: this.sessions.viewers,
        egressMbps: Math.round(this.egress.mbps * 10) / 10,
        maxViewers: config.limits.maxViewers,
        maxEgressMbps: config.limits.maxEgressMbps,
      }),
      ...(options.workerIndex === undefined ? {} : { workerIndex: options.workerIndex }),
      ...(worker
        ? {
            workerLocate: async (path: string) =>
              (await worker.locate(path, config.cluster.lookupTimeoutMs))?.url ?? null,
          }
        : {}),
      playQuery: (path) => {
        // A play token (private streams), and the proof that this is a node of the cluster.
        const signed = { purpose: 'play' as const, path, expiresAtS: nowS() + PULL_TOKEN_S };
        return `token=${signToken(this.keys.token, signed)}&relay=${signToken(this.keys.cluster, signed)}`;
      },
    });
    const shared = { access: this.access, sessions: this.sessions };
    // libsrt binds its own UDP socket, which node:cluster cannot share: the group's first
    // worker takes SRT, and the streams it receives play from every worker.
    this.srt =
      config.srt.enabled && (options.workerIndex ?? 0) === 0
        ? new SrtServer({
            srt: config.srt,
            streams: config.streams,
            hubConfig: config.hub,
            hub: this.hub,
            logger,
            ...shared,
          })
        : null;
    this.#rtmp = config.rtmp.enabled
      ? new RtmpServer({
          config: config.rtmp,
          hubConfig: config.hub,
          hub: this.hub,
          logger,
          maxPublishKbps: config.limits.maxPublishKbps,
          trustedProxies: AddressList.parse(config.server.trustedProxies),
          onReject: (reason) => {
            this.#monitoring.countRejection(reason);
          },
          ...shared,
        })
      : null;
    this.#hls =
      config.http.enabled && config.hls.enabled
        ? new HlsHandler({
            hub: this.hub,
            config: config.hls,
            streams: config.streams,
            cors: config.http.cors,
            logger,
            access: this.access,
            sessions: this.sessions,
            countViewers: config.limits.countHlsViewers,
            clientAddress: (req) => this.#clientOf(req),
            overMemoryBudget: () => this.memory.over,
            redirect: (path: string, code: string) => this.#elsewhere(path, code),
            nodeFull: () => this.#nodeFull(),
            dvrDir: join(config.dataDir, 'dvr'),
            ladder: {
              renditionsOf: (path: string) => this.#renditionsOf(path),
              sourceOf: (path: string) => this.#renditionSourceOf(path),
              watch: (path: string) => this.abr.watch(path),
            },
            ...(this.cluster.pulling
              ? {
                  awaitStream: (path: string) =>
                    this.cluster.whenLive(path, config.hub.waitForPublisherMs),
                }
              : {}),
          })
        : null;
    this.#pages = new PagesHandler({
      hub: this.hub,
      rtmpPort: config.rtmp.port,
      dvrWindowS: (path) =>
        config.hls.enabled && !isRecordingPath(path)
          ? (config.streams[path]?.hls?.dvrWindowS ?? config.hls.dvrWindowS)
          : 0,
    });
    const whep = this.#whepHandler(config, logger);
    this.hub.events.on('b-frames', (event) => {
      logger.warn(
        { stream: event.stream.path },
        'the publisher sends B-frames: WebRTC viewers get its non-reference frames dropped (set the encoder to no B-frames, e.g. x264 bframes=0, for full frame rate over WebRTC)',
      );
    });
    const whip = whep ? this.#whipHandler(config, logger) : null;
    this.#http = config.http.enabled
      ? new HttpListener({
          config: config.http,
          logger,
          access: this.access,
          addresses: this.addresses,
          hookTimeoutMs: config.hooks.timeoutMs,
          ...(config.api.enabled
            ? {
                api: (req, res) => {
                  if (this.#api) this.#api.routing(req, res);
                  else res.writeHead(503).end();
                },
              }
            : {}),
          flv: new HttpFlvHandler({
            hub: this.hub,
            http: config.http,
            hubConfig: config.hub,
            logger,
            ...shared,
          }),
          ...(whep ? { whep } : {}),
          ...(whip ? { whip } : {}),
          ...(this.#hls ? { hls: this.#hls } : {}),
          vod: new VodHandler({
            catalogue: this.recordings.catalogue,
            access: this.access,
            logger,
            cors: config.http.cors,
            clientAddress: (req) => this.addresses.of(req),
          }),
          pages: this.#pages,
          dashboard: new DashboardHandler(),
          ...(worker ? { hlsOwner: (path: string) => this.#hlsOwner(worker, path) } : {}),
          redirect: (path, code) => this.#elsewhere(path, code),
        })
      : null;
    const srt = this.srt;
    this.#monitoring = new Monitoring({
      config,
      hub: this.hub,
      sessions: this.sessions,
      access: this.access,
      hls: this.#hls,
      secret: this.secret,
      logger,
      listeners: () => this.#ports,
      health: () => this.#health,
      memory: () => this.memory.figures(),
      hookDrops: () => this.#hooks.droppedByAction,
      ...(whep ? { webrtc: () => whep.lossRecovery() } : {}),
      iceTcpConnections: () => this.webrtcTcpConnections(),
      ...(srt ? { srt: () => srt.figures() } : {}),
      abr: () => ({
        ladders: this.abr.list().length,
        restarts: this.abr.restartsTotal,
        cpuSeconds: this.abr.cpuSecondsTotal,
        minSpeed: minOrNull(this.abr.list().flatMap((ladder) => ladder.speed ?? [])),
      }),
      recording: () => ({
        bytesWritten: this.recordings.bytesWritten,
        filesOpen: this.recordings.filesOpen,
        queuedBytes: this.recordings.queuedBytes,
        writeErrors: this.recordings.counters.writeErrors,
        filesDeleted: this.recordings.counters.deleted,
        diskFull: this.recordings.diskFull,
      }),
      pushes: () => ({
        byState: this.pushes.countByState(),
        bytesPushed: this.pushes.bytesPushed,
      }),
      ...(worker
        ? {
            group: {
              streams: () => worker.group,
              metrics: () => worker.metrics(METRICS_TIMEOUT_MS),
              writesSamples: (options.workerIndex ?? 0) === 0,
            },
          }
        : {}),
    });
  }

  /** Counts a promise rejection nobody handled (main.ts logs it; the metrics show the count). */
  countUnhandledRejection(): void {
    this.#monitoring.unhandledRejections++;
  }

  /** What the HLS profile implies for players, or null when HLS is off. */
  get hlsExplanation(): string | null {
    return this.#hls?.explanation ?? null;
  }

  /** ICE-over-TCP connections open now (0 without webrtc.tcpPort). */
  webrtcTcpConnections(): number {
    return this.#iceNetwork?.bridge?.connections ?? 0;
  }

  /** WHEP playback, when WebRTC is on and node-datachannel loads here (else a warning says why). */
  #whepHandler(config: Config, logger: Logger): WhepHandler | null {
    if (!config.webrtc.enabled || !config.http.enabled) return null;
    const ndc = loadWebRtc();
    if (ndc instanceof Error) {
      logger.warn({ err: ndc }, 'WebRTC is off: node-datachannel does not load on this machine');
      return null;
    }
    this.#iceNetwork = new IceNetwork({
      udpPort: config.webrtc.udpPort,
      bindAddress: config.webrtc.bindAddress,
      additionalHosts: config.webrtc.additionalHosts,
      // In a worker group node:cluster would share one TCP port among the workers, and a
      // connection would reach a worker that may not hold its peer: ICE over TCP is off there.
      tcpPort: this.#worker ? 0 : config.webrtc.tcpPort,
      handshakeTimeoutMs: config.webrtc.handshakeTimeoutMs,
      logger: logger.child({ component: 'webrtc' }),
      ndc,
    });
    return new WhepHandler({
      hub: this.hub,
      logger: logger.child({ component: 'webrtc' }),
      sessions: this.sessions,
      cors: config.http.cors,
      ...(config.webrtc.opusFromAac ? { toOpus: this.#aacToOpus(logger) } : {}),
      peer: {
        ndc,
        udpPort: config.webrtc.udpPort,
        bindAddress: config.webrtc.bindAddress,
        handshakeTimeoutMs: config.webrtc.handshakeTimeoutMs,
        extraCandidates: this.#iceNetwork.extraCandidates,
      },
    });
  }

  /** WHIP ingest, beside WHEP (same library, UDP port and handshake deadline). */
  #whipHandler(config: Config, logger: Logger): WhipHandler | null {
    const ndc = loadWebRtc();
    if (ndc instanceof Error) return null;
    return new WhipHandler({
      hub: this.hub,
      logger: logger.child({ component: 'webrtc' }),
      sessions: this.sessions,
      cors: config.http.cors,
      peer: {
        ndc,
        udpPort: config.webrtc.udpPort,
        bindAddress: config.webrtc.bindAddress,
        handshakeTimeoutMs: config.webrtc.handshakeTimeoutMs,
        ...(this.#iceNetwork ? { extraCandidates: this.#iceNetwork.extraCandidates } : {}),
      },
    });
  }

  /** AAC -> Opus for WebRTC viewers: one supervised ffmpeg per stream (null when it refuses). */
  #aacToOpus(logger: Logger): AudioToOpusFactory {
    const log = logger.child({ component: 'transcode' });
    return (track, onFrame) => {
      try {
        return new AacToOpusTranscoder(track, { logger: log, onFrame });
      } catch (error) {
        log.warn({ err: error }, 'this AAC cannot be made Opus; WebRTC viewers get no audio');
        return null;
      }
    };
  }

  /** Starts every listener; resolves with the ports bound. */
  async start(): Promise<ListeningAddresses> {
    if (this.config.api.enabled) {
      const allowFrom = AddressList.parse(this.config.api.allowFrom);
      this.#api = await createApiApp({
        token: this.apiToken.value,
        isAllowedAddress: (ip) => allowFrom.matches(ip),
        clientAddress: (req) => this.addresses.of(req),
        sessions: this.sessions,
        store: this.#store,
        isPrivate: (path) => this.access.isPrivate(path),
        checkStreamPath,
        parseDuration,
        signToken: (options) => signToken(this.keys.token, options),
        isValidCidr,
        logger: this.#logger.child({ component: 'api' }),
        monitoring: this.#monitoring.deps,
        recordings: this.recordings,
        pushes: this.pushes,
        abrLadder: (path) => this.abr.get(path),
      });
    }
    await this.#iceNetwork?.start();
    await this.recordings.start();
    this.abr.start();
    this.#monitoring.start();
    this.memory.start();
    const rtmpPort = this.#rtmp ? await this.#rtmp.listen() : null;
    if (rtmpPort !== null) this.#pages.setRtmpPort(rtmpPort);
    if (this.#worker && this.#rtmp) await this.#joinGroup(this.#worker, this.#rtmp);
    const httpPort = this.#http ? await this.#http.listen() : null;
    this.#ports = { rtmp: rtmpPort, http: httpPort };
    this.srt?.start();
    // The first worker binds SRT; the others show the configured port.
    const { srt } = this.config;
    const srtShown = this.srt ? this.srt.port : srt.enabled ? srt.port : null;
    this.#pages.setSrtPort(srtShown === 0 ? null : srtShown);
    this.egress.start();
    this.cluster.start({ rtmp: rtmpPort, http: httpPort });
    this.#health = 'ok';
    return { rtmpPort, httpPort, srtPort: this.srt?.port ?? null };
  }

  /**
   * A node of the stream map with room for a viewer of `path` that this one refuses as full
   * (`code`), or null; each redirect is logged and counted.
   */
  async #elsewhere(path: string, code: string): Promise<string | null> {
    const base = await this.cluster.redirectFor(path);
    if (base !== null) {
      this.#logger.info({ stream: path, reason: code, to: base }, 'viewer sent to another node');
      this.#monitoring.countRejection('redirected');
    }
    return base;
  }

  /**
   * Why a new HLS viewer cannot be taken here, or null: the egress cap, and (in a stream map,
   * where another node can take it) maxViewers counting HLS sessions too.
   */
  #nodeFull(): string | null {
    const { limits } = this.config;
    if (limits.maxEgressMbps > 0 && this.egress.mbps >= limits.maxEgressMbps) return 'max-egress';
    if (this.cluster.mapped && this.sessions.viewers >= limits.maxViewers) return 'max-viewers';
    return null;
  }

  /** The client of a request: named by the worker that forwarded it, else as usual. */
  /**
   * The renditions of `path` being published now, best first: the ones its encoder sends
   * (multitrack video), else the ones its ABR ladder makes.
   */
  #renditionsOf(path: string): string[] {
    const own = this.hub.renditions.renditionsOf(path);
    const made = this.abr.get(path)?.renditions ?? [];
    const live = [...own, ...made].filter((p) => this.hub.get(p)?.publisher != null);
    const height = (p: string): number =>
      this.hub.get(p)?.tracks.find((track) => track.kind === 'video')?.height ?? 0;
    return live.sort((a, b) => height(b) - height(a));
  }

  /** The source of rendition `path` (multitrack or ABR ladder), or null. */
  #renditionSourceOf(path: string): string | null {
    return this.hub.renditions.sourceOf(path) ?? this.abr.sourceOf(path);
  }

  #clientOf(req: IncomingMessage): string {
    if (this.#http?.isInternal(req) === true) {
      const named = req.headers[CLIENT_HEADER];
      if (typeof named === 'string' && isIP(named) !== 0) return named;
    }
    return this.addresses.of(req);
  }

  /**
   * The HTTP base of the other worker that makes the HLS of `path` (it publishes it), or null
   * when this one does or nobody does. Asked of the primary at most once a second per stream.
   */
  #hlsOwner(worker: WorkerLink, path: string): string | null | Promise<string | null> {
    const publisher = this.hub.get(path)?.publisher;
    if (publisher && publisher.info.protocol !== 'relay') return null;
    const now = Date.now();
    const known = this.#owners.get(path);
    if (known && known.untilMs > now) return known.base;
    if (this.#owners.size >= MAX_OWNERS_CACHED) this.#owners.clear();
    return worker.locate(path, this.config.cluster.lookupTimeoutMs).then((found) => {
      const base = found?.httpUrl ?? null;
      this.#owners.set(path, { base, untilMs: Date.now() + OWNER_CACHE_MS });
      return base;
    });
  }

  /**
   * One worker of a group: the others pull this worker's streams from a loopback port of its
   * own, found through the primary, which also merges every worker's stream list.
   */
  async #joinGroup(worker: WorkerLink, rtmp: RtmpServer): Promise<void> {
    const port = await rtmp.listenInternal();
    const url = `rtmp://127.0.0.1:${String(port)}`;
    const httpPort = this.#http ? await this.#http.listenInternal() : 0;
    const httpUrl = `http://127.0.0.1:${String(httpPort)}`;
    const register = (stream: Stream, protocol: string): void => {
      if (protocol !== 'relay') worker.register(stream.path, url, httpUrl);
    };
    this.hub.events.on('published', (event) => {
      register(event.stream, event.publisher.protocol);
    });
    this.hub.events.on('resumed', (event) => {
      register(event.stream, event.publisher.protocol);
    });
    this.hub.events.on('ended', (event) => {
      worker.unregister(event.stream.path);
    });
    const report = (): void => {
      worker.reportStreams(
        allStreamInfo(this.hub, this.sessions, (path) => this.access.isPrivate(path)),
      );
    };
    report();
    this.#reportTimer = setInterval(report, REPORT_EVERY_MS);
    this.#reportTimer.unref();
  }

  /**
   * Stops within server.shutdownTimeoutMs: readiness goes to 503, no new connections are taken,
   * every stream and session ends politely (FLV viewers get their last chunk, WebSocket viewers
   * a close frame, held HLS requests an answer); what has not let go by half the deadline is
   * cut. Then the hooks' queued notifications (on_unpublish, on_stop) are delivered with what is
   * left of it, and the analytics are written and closed. Resolves true when everything ended
   * in time, false when something had to be cut.
   */
  async stop(): Promise<boolean> {
    const timeoutMs = this.config.server.shutdownTimeoutMs;
    const startedMs = Date.now();
    const leftMs = (): number => Math.max(0, timeoutMs - (Date.now() - startedMs));
    this.#logger.info({ timeoutMs }, 'stopping');
    this.#health = 'stopping';
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    const leaving = this.cluster.close(); // the map entries go (bounded by lookupTimeoutMs)
    this.pushes.close();
    this.srt?.close();
    const laddersStopped = this.abr.close(); // ffmpeg: SIGTERM, then SIGKILL after 3 s
    this.hub.close();
    this.#iceNetwork?.close();
    const connections = Promise.all([this.#rtmp?.close(), this.#http?.close()]);
    const clean = await settlesWithin(connections, Math.ceil(timeoutMs / 2));
    if (!clean) {
      this.#logger.warn('connections still open at half the shutdown deadline: cutting them');
      // RTMP sessions destroy their sockets when closed; only HTTP ends politely.
      this.#http?.forceClose();
      // Their close events (which end their sessions, and so queue on_stop) run on later ticks.
      await settlesWithin(connections, Math.min(leftMs(), 1000));
    }
    // Every recording file is finished (mfra index, duration) before the process exits.
    if (!(await settlesWithin(this.recordings.close(), leftMs()))) {
      this.#logger.warn('recording files still being finished at the shutdown deadline');
    }
    if (!(await settlesWithin(laddersStopped, leftMs()))) {
      this.#logger.warn('ABR ladder ffmpeg processes still running at the shutdown deadline');
    }
    // The on_unpublish / on_stop of the sessions just ended are delivered, not cut off.
    await this.#hooks.drain(leftMs());
    await this.#api?.close();
    this.#monitoring.stop();
    this.memory.stop();
    this.egress.stop();
    await leaving;
    this.#worker?.close();
    this.#logger.info({ clean, ms: Date.now() - startedMs }, 'stopped');
    return clean;
  }
}

/** A push's connect, handshake and publish must each be done within this long. */
const PUSH_CONNECT_TIMEOUT_MS = 10_000;
/** Push retries: 1 s doubling to 30 s, from 1 s again after a connection live for 30 s. */
const PUSH_BACKOFF = { minMs: 1000, maxMs: 30_000, resetAfterMs: 30_000 };

/** The recording cut for 30 fps without LL-HLS parts: fragments of about a second. */
const RECORDING_CUT = { segmentTargetS: 2, partTargetS: 1, maxSegmentS: 10 };

/**
 * The fMP4 fragmenter a stream is recorded with: its HLS profile's when that is fMP4 (the HLS
 * window and the recorder then share one fragmenter and its bytes), else parts of about 1 s,
 * so a crash loses at most about a second.
 */
function recordingFragments(config: Config, path: string): FragmentsRequest {
  const profile = hlsProfile(config.streams[path]?.hls?.profile ?? config.hls.profile);
  if (config.hls.enabled && profile.container === 'fmp4') {
    return { container: 'fmp4', cutName: profile.name, cut: profile };
  }
  return { container: 'fmp4', cutName: 'recording', cut: RECORDING_CUT };
}

/** How long a worker waits for the group's metrics before it shows its own. */
const METRICS_TIMEOUT_MS = 3000;

/** How long a worker trusts what the primary said about who makes a stream's HLS. */
const OWNER_CACHE_MS = 1000;
const MAX_OWNERS_CACHED = 10_000;

/** How often a worker tells the primary its streams (the group's stream list). */
const REPORT_EVERY_MS = 1000;

/** How long the play token of a pull from another node is valid (it is signed per attempt). */
const PULL_TOKEN_S = 300;

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

/** Whether `promise` settles within `ms` (it is left running when it does not). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * FLV and RTMP outputs (keys 'flv', 'flv-chunked', 'rtmp:<id>') and the MPEG-TS fragmenter
 * (HLS profile 'compatible') of a WHIP stream (Opus audio) get AAC, through one ffmpeg per stream
 * while any of them has viewers: classic FLV players and TS play no Opus. fMP4 keeps the Opus.
 */
function opusAsAacForFlv(
  logger: Logger,
  fromWebRtc: (path: string) => boolean,
): OutputAdapterFactory {
  const log = logger.child({ component: 'transcode' });
  const shared = new SharedAudioTranscoders((path, track, onFrame) => {
    const streamLog = log.child({ stream: path });
    try {
      streamLog.info('Opus audio transcoded to AAC for FLV/RTMP viewers');
      return new OpusToAacTranscoder(track, { logger: streamLog, onFrame });
    } catch (error) {
      streamLog.warn({ err: error }, 'this Opus cannot be made AAC; FLV viewers get no audio');
      return null;
    }
  });
  return (key, output, path) => {
    const flv = key === 'flv' || key === 'flv-chunked' || key.startsWith('rtmp:');
    if (!flv && !key.startsWith('fragments:mpegts|')) return null;
    return new OpusAsAacAdapter(output, shared.forPath(path), log.child({ stream: path }), () =>
      fromWebRtc(path),
    );
  };
}

/** The smallest of `values`, or null for none. */
function minOrNull(values: readonly number[]): number | null {
  return values.length === 0 ? null : Math.min(...values);
}
