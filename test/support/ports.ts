// Free TCP ports for the servers a test starts (nginx, redis-server, HAProxy, onair itself).
import { createServer } from 'node:net';

/** A free TCP port on `address` (the OS picks it; free again when this resolves). */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, address, resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
