// The monitoring load of a `httpflv-monitored` run: what an operator adds while viewers watch.
// Prometheus scraping /metrics every second, the dashboard's live feed (SSE /api/v1/events) and
// its stream list polled every 2 s. Runs for --duration seconds, then prints what it did.
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    token: { type: 'string' },
    duration: { type: 'string', default: '30' },
  },
});
const base = values.base ?? '';
const token = values.token ?? '';
const durationMs = Number(values.duration) * 1000;
if (!base.startsWith('http://') || token === '' || !(durationMs > 0)) {
  process.stderr.write(
    'usage: tsx bench/monitor-load.ts --base http://HOST:PORT --token T [--duration S]\n',
  );
  process.exit(2);
}
const headers = { Authorization: `Bearer ${token}` };
const counts = { scrapes: 0, listPolls: 0, feedEvents: 0, failures: 0 };
const deadline = Date.now() + durationMs;

async function every(ms: number, work: () => Promise<void>): Promise<void> {
  while (Date.now() < deadline) {
    const started = Date.now();
    try {
      await work();
    } catch {
      counts.failures++;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms - (Date.now() - started))));
  }
}

async function feed(): Promise<void> {
  const response = await fetch(`${base}/api/v1/events`, {
    headers,
    signal: AbortSignal.timeout(durationMs),
  });
  if (response.status !== 200 || response.body === null) throw new Error(`feed ${response.status}`);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    counts.feedEvents +=
      decoder.decode(value, { stream: true }).split('event: snapshot').length - 1;
  }
}

await Promise.all([
  every(1000, async () => {
    const response = await fetch(`${base}/metrics`, { headers });
    await response.text();
    if (response.status !== 200) throw new Error(`metrics ${response.status}`);
    counts.scrapes++;
  }),
  every(2000, async () => {
    const response = await fetch(`${base}/api/v1/streams`, { headers });
    await response.json();
    if (response.status !== 200) throw new Error(`streams ${response.status}`);
    counts.listPolls++;
  }),
  feed().catch((error: unknown) => {
    if (!(error instanceof Error && error.name === 'TimeoutError')) counts.failures++;
  }),
]);
process.stdout.write(`${JSON.stringify(counts)}\n`);
