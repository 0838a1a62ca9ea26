// The addresses WebRTC answers announce beyond libdatachannel's own: webrtc.additionalHosts on
// the UDP port, and the ICE-TCP bridge (webrtc.tcpPort) when it is on; and the owner of the one
// UDP port every peer shares. One per server, shared by WHEP and WHIP; started and closed with
// the server.
import type { Logger } from '../../log/logger.ts';
import { AnnouncedHosts, additionalHostsOf, type ExtraCandidates } from './answer-candidates.ts';
import { IceTcpBridge } from './ice-tcp-bridge.ts';
import { releaseWebRtc, retainWebRtc } from './load-webrtc.ts';
import type { NodeDataChannel } from './whep-peer.ts';

/** What the network is made from (the `webrtc` section). */
export interface IceNetworkOptions {
  readonly udpPort: number;
  readonly bindAddress: string;
  readonly additionalHosts: string;
  /** 0: no ICE over TCP. */
  readonly tcpPort: number;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  /**
   * libdatachannel: with it the UDP port is held by one IceUdpMuxListener for the server's life.
   * Without an owner the shared socket is bound with the first peer and freed with the last,
   * and a peer made while a just-closed one still held the port failed to gather candidates,
   * which libdatachannel answered by terminating the process.
   */
  readonly ndc?: NodeDataChannel;
}

/** The address the relay sockets reach libdatachannel's UDP port on. */
function loopbackOf(bindAddress: string): string {
  if (bindAddress === '0.0.0.0') return '127.0.0.1';
  if (bindAddress === '::') return '::1';
  return bindAddress;
}

/** See the file comment. */
export class IceNetwork {
  readonly #options: IceNetworkOptions;
  readonly #hosts: AnnouncedHosts;
  readonly #bridge: IceTcpBridge | null;
  #mux: { stop(): void } | null = null;

  constructor(options: IceNetworkOptions) {
    this.#options = options;
    this.#hosts = new AnnouncedHosts({
      entries: additionalHostsOf(options.additionalHosts),
      onLookupError: (host, error) => {
        options.logger.warn(
          { host, err: error },
          'webrtc.additionalHosts: this name does not resolve; answers leave it out until it does',
        );
      },
    });
    this.#bridge =
      options.tcpPort > 0
        ? new IceTcpBridge({
            host: options.bindAddress,
            port: options.tcpPort,
            udpPort: options.udpPort,
            udpAddress: loopbackOf(options.bindAddress),
            handshakeTimeoutMs: options.handshakeTimeoutMs,
            logger: options.logger,
          })
        : null;
  }

  /** What every answer gets added (read per answer; never waits). */
  readonly extraCandidates = (): ExtraCandidates => ({
    udpHosts: this.#hosts.addresses(),
    udpPort: this.#options.udpPort,
    tcpPort: this.#bridge?.port ?? null,
  });

  /** The ICE-TCP bridge, when on (tests read its figures). */
  get bridge(): IceTcpBridge | null {
    return this.#bridge;
  }

  /** Resolves the host names and binds the ICE-TCP port. */
  async start(): Promise<void> {
    const { ndc } = this.#options;
    if (ndc && this.#mux === null) {
      try {
        this.#mux = new ndc.IceUdpMuxListener(this.#options.udpPort, this.#options.bindAddress);
        retainWebRtc();
      } catch (error) {
        this.#options.logger.warn(
          { err: error, port: this.#options.udpPort },
          'the WebRTC UDP port has no lasting owner: each peer binds it',
        );
      }
    }
    await this.#hosts.start();
    if (this.#bridge) {
      const port = await this.#bridge.listen();
      this.#options.logger.info({ port }, 'ICE over TCP listening');
    }
  }

  close(): void {
    this.#hosts.close();
    this.#bridge?.close();
    const { ndc } = this.#options;
    if (this.#mux !== null && ndc) {
      this.#mux.stop();
      this.#mux = null;
      releaseWebRtc(ndc);
    }
  }
}
