// A second host on this machine for tests: a network namespace joined to this one by a veth
// pair, so a client has an address of its own (not loopback) as it would on a real network.
// Needs root (CI runs as root); everything made is removed by destroy().
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from './media-tools.ts';

/** A client host: its namespace, its address, and this machine's address on the link. */
export interface ClientHost {
  readonly namespace: string;
  /** This machine's end of the link (where servers listen for the client). */
  readonly hostAddress: string;
  /** The client's address, as servers see it. */
  readonly clientAddress: string;
  /** Starts `command args` inside the namespace. */
  spawn(command: string, args: readonly string[]): ChildProcess;
  destroy(): Promise<void>;
}

async function ip(args: readonly string[]): Promise<void> {
  const result = await run('ip', args, { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${result.stderr}`);
}

/** Makes a namespace with a /30 link 10.203.<n>.0 (n from the process id, so runs do not clash). */
export async function makeClientHost(): Promise<ClientHost> {
  const n = process.pid % 250;
  const namespace = `onair-c${process.pid}`;
  const hostIf = `oa${process.pid % 100000}h`;
  const clientIf = `oa${process.pid % 100000}c`;
  const hostAddress = `10.203.${n}.1`;
  const clientAddress = `10.203.${n}.2`;
  await ip(['netns', 'add', namespace]);
  try {
    await ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', clientIf]);
    await ip(['link', 'set', clientIf, 'netns', namespace]);
    await ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    await ip(['link', 'set', hostIf, 'up']);
    await ip(['-n', namespace, 'addr', 'add', `${clientAddress}/30`, 'dev', clientIf]);
    await ip(['-n', namespace, 'link', 'set', clientIf, 'up']);
    await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await run('ip', ['netns', 'delete', namespace]);
    await run('ip', ['link', 'delete', hostIf]);
    throw error;
  }
  return {
    namespace,
    hostAddress,
    clientAddress,
    spawn: (command, args) =>
      spawn('ip', ['netns', 'exec', namespace, command, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    destroy: async () => {
      // Deleting the namespace deletes its end of the veth, and with it the pair.
      await run('ip', ['netns', 'delete', namespace]);
      await run('ip', ['link', 'delete', hostIf]);
    },
  };
}
