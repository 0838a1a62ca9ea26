// The candidates onair adds to every WebRTC answer (WHEP and WHIP) beside libdatachannel's own:
// the addresses of webrtc.additionalHosts (a public IP not on any interface, a NAT or container
// address) on the same UDP port, and a passive ICE-TCP candidate (RFC 6544) on webrtc.tcpPort
// for each announced address. Host names are resolved here (at start, then every minute, each
// lookup bounded), because browsers only trust IP addresses and mDNS names in candidates:
// Chromium resolves other names itself only in some versions, Firefox drops them.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { MAX_ADDITIONAL_HOSTS, additionalHostsOf } from '../../config/webrtc-schema.ts';

export { MAX_ADDITIONAL_HOSTS, additionalHostsOf };

/** What is added to an answer. */
export interface ExtraCandidates {
  /** IP addresses announced on the UDP port beside libdatachannel's own. */
  readonly udpHosts: readonly string[];
  readonly udpPort: number;
  /** The ICE-TCP port, or null without ICE over TCP. */
  readonly tcpPort: number | null;
}

/** RFC 8445 priority of a host candidate: type preference, local preference, component 1. */
function priority(typePreference: number, localPreference: number): number {
  return typePreference * 2 ** 24 + localPreference * 2 ** 8 + 255;
}

/** Host candidates of the answer's own (UDP) candidate lines: their addresses, in order. */
function ownUdpAddresses(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('a=candidate:')) continue;
    const fields = line.split(' ');
    if (fields[2]?.toLowerCase() !== 'udp' || fields[7] !== 'host') continue;
    const address = fields[4];
    if (address !== undefined && !out.includes(address)) out.push(address);
  }
  return out;
}

/**
 * `sdp` (an answer) with the extra candidates added where its own are (the first media section
 * that has candidates, before a=end-of-candidates; else the first media section): a UDP host
 * candidate for each of `udpHosts` not already there (priority below libdatachannel's), and a
 * passive TCP candidate on `tcpPort` for every announced address (priority below every UDP one).
 * An answer without media sections is returned as it is.
 */
export function withExtraCandidates(sdp: string, extra: ExtraCandidates): string {
  if (extra.udpHosts.length === 0 && extra.tcpPort === null) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  const firstMedia = lines.findIndex((line) => line.startsWith('m='));
  if (firstMedia < 0) return sdp;
  const own = ownUdpAddresses(lines);
  const udp = extra.udpHosts.filter((host) => !own.includes(host)).slice(0, MAX_ADDITIONAL_HOSTS);
  const added: string[] = [];
  udp.forEach((host, i) => {
    added.push(
      `a=candidate:onair${i} 1 UDP ${priority(126, 4000 - i)} ${host} ${extra.udpPort} typ host`,
    );
  });
  if (extra.tcpPort !== null) {
    [...own, ...udp].slice(0, MAX_ADDITIONAL_HOSTS * 2).forEach((host, i) => {
      added.push(
        `a=candidate:onairtcp${i} 1 TCP ${priority(90, 4000 - i)} ${host} ${extra.tcpPort} typ host tcptype passive`,
      );
    });
  }
  if (added.length === 0) return sdp;
  // Where the answer's own candidates are (bundled: the first section that has any).
  let at = -1;
  for (let i = firstMedia; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.startsWith('m=') && at >= 0) break;
    if (line.startsWith('a=candidate:')) at = i + 1;
    else if (line === 'a=end-of-candidates' && at >= 0) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    // No candidates: the end of the first media section.
    const next = lines.findIndex((line, i) => i > firstMedia && line.startsWith('m='));
    at = next < 0 ? lines.length : next;
    while (at > firstMedia + 1 && lines[at - 1] === '') at--;
  }
  lines.splice(at, 0, ...added);
  return lines.join(eol);
}

/** What AnnouncedHosts needs. */
export interface AnnouncedHostsOptions {
  /** The webrtc.additionalHosts entries: IP addresses and host names. */
  readonly entries: readonly string[];
  /** A lookup that does not answer within this long counts as failed (the last answer stays). */
  readonly lookupTimeoutMs?: number;
  /** Told when a name does not resolve (with the error), at most once per name until it does. */
  readonly onLookupError?: (host: string, error: unknown) => void;
  readonly resolve?: (host: string) => Promise<readonly string[]>;
}

/** How often host names are looked up again (a dynamic DNS name follows its address). */
const REFRESH_MS = 60_000;

/**
 * The IP addresses of webrtc.additionalHosts: literals as they are, names resolved at start()
 * and every minute after (IPv4 and IPv6, at most MAX_ADDITIONAL_HOSTS addresses). Answers read
 * addresses() and never wait for DNS.
 */
export class AnnouncedHosts {
  readonly #options: AnnouncedHostsOptions;
  readonly #resolved = new Map<string, readonly string[]>();
  readonly #failing = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #addresses: readonly string[] = [];

  constructor(options: AnnouncedHostsOptions) {
    this.#options = options;
    this.#update();
  }

  /** The addresses now. */
  addresses(): readonly string[] {
    return this.#addresses;
  }

  /** Resolves the names once (bounded by the lookup timeout), then every minute. */
  async start(): Promise<void> {
    await this.#refresh();
    if (this.#names().length === 0) return;
    this.#timer = setInterval(() => {
      void this.#refresh();
    }, REFRESH_MS);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #names(): string[] {
    return this.#options.entries.filter((entry) => isIP(entry) === 0);
  }

  async #refresh(): Promise<void> {
    const timeoutMs = this.#options.lookupTimeoutMs ?? 5000;
    const resolve =
      this.#options.resolve ??
      (async (host: string) => (await lookup(host, { all: true })).map((a) => a.address));
    await Promise.all(
      this.#names().map(async (name) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const found = await Promise.race([
            resolve(name),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                reject(new Error(`no answer within ${timeoutMs} ms`));
              }, timeoutMs);
            }),
          ]);
          this.#resolved.set(
            name,
            found.filter((a) => isIP(a) !== 0),
          );
          this.#failing.delete(name);
        } catch (error) {
          if (!this.#failing.has(name)) this.#options.onLookupError?.(name, error);
          this.#failing.add(name);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    this.#update();
  }

  #update(): void {
    const out: string[] = [];
    for (const entry of this.#options.entries) {
      const addresses = isIP(entry) !== 0 ? [entry] : (this.#resolved.get(entry) ?? []);
      for (const address of addresses) if (!out.includes(address)) out.push(address);
    }
    this.#addresses = out.slice(0, MAX_ADDITIONAL_HOSTS);
  }
}
