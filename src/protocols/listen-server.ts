// Listening and closing for node:net / node:http servers, with the bound port and errors surfaced.
import type { Server } from 'node:net';

/**
 * Starts listening on host:port (port 0: any free port); resolves with the port bound.
 * `exclusive`: in a node:cluster worker, a port of this process alone (not shared).
 */
export async function listenServer(
  server: Server,
  host: string,
  port: number,
  exclusive = false,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}

/** Resolves once the server has stopped accepting and every connection is gone. */
export function serverClosed(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
