// `npm run bench`: runs onair, Node-Media-Server and nginx-rtmp under the same load (server pinned to
// CPU 0, load generator to CPU 1), then prints one Markdown table with CPU/Gbps ratios and the targets.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ViewerKind } from './load-options.ts';
import type { LoadResult } from './load-result.ts';
import { summarize } from './load-summary.ts';
import { ensureMedia } from './make-media.ts';
import {
  BENCH_BOUND_PCT,
  markdownTable,
  rssSlopeLines,
  stallTable,
  targetLines,
  type RunRecord,
} from './report-table.ts';
import {
  SERVER_KINDS,
  SERVER_NAMES,
  ensureNginxRtmp,
  startServer,
  type ServerName,
} from './servers.ts';

const usage = `usage: npm run bench [-- options]
  --servers LIST     onair,nms,nginx-rtmp                                  [all]
  --kinds LIST       rtmp,httpflv (nginx-rtmp only does rtmp)              [both]
  --viewers LIST     viewer counts of the matrix                           [500,1000]
  --big LIST         extra viewer counts for onair only                    [2000; none if the matrix is chosen]
  --stall S          onair run with stalled viewers for S seconds, 0 = off [60; 0 if the matrix is chosen]
  --stall-viewers K  stalled viewers (plus 10 normal ones)                 [5]
  --duration S       seconds per run, ramp included                        [30]
  --ramp R           viewers started per second                            [200]
  --file PATH        test FLV (made with ffmpeg when missing)              [bench/results/media.flv]
  --out DIR          results directory                                     [bench/results/run-DATE]
  --server-cpu N / --bench-cpu N   cores for the server and the load       [0 / 1]`;

interface Plan {
  readonly server: ServerName;
  readonly kind: ViewerKind;
  readonly viewers: number;
  readonly slow: number;
  readonly durationS: number;
}

const ROOT = resolve(import.meta.dirname, '..');
const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const numbers = (raw: string): number[] =>
  list(raw).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${s}`);
    return n;
  });

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      servers: { type: 'string' },
      kinds: { type: 'string' },
      viewers: { type: 'string' },
      big: { type: 'string' },
      stall: { type: 'string' },
      'stall-viewers': { type: 'string', default: '5' },
      duration: { type: 'string', default: '30' },
      ramp: { type: 'string', default: '200' },
      file: { type: 'string', default: 'bench/results/media.flv' },
      out: { type: 'string' },
      'server-cpu': { type: 'string', default: '0' },
      'bench-cpu': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const chosen =
    values.servers !== undefined || values.kinds !== undefined || values.viewers !== undefined;
  const servers = list(values.servers ?? SERVER_NAMES.join(','));
  for (const s of servers) {
    if (!(SERVER_NAMES as readonly string[]).includes(s)) throw new Error(`unknown server ${s}`);
  }
  const kinds = list(values.kinds ?? 'rtmp,httpflv');
  for (const k of kinds) if (k !== 'rtmp' && k !== 'httpflv') throw new Error(`unknown kind ${k}`);
  const date = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    help: values.help,
    servers: servers as ServerName[],
    kinds: kinds as ViewerKind[],
    viewers: numbers(values.viewers ?? '500,1000'),
    big: numbers(values.big ?? (chosen ? '' : '2000')),
    stallS: Number(values.stall ?? (chosen ? '0' : '60')),
    stallViewers: Number(values['stall-viewers']),
    durationS: Number(values.duration),
    ramp: Number(values.ramp),
    file: values.file,
    out: resolve(ROOT, values.out ?? `bench/results/run-${date}`),
    serverCpu: Number(values['server-cpu']),
    benchCpu: Number(values['bench-cpu']),
  };
}

type Options = ReturnType<typeof parse>;

function planRuns(o: Options): Plan[] {
  const plans: Plan[] = [];
  for (const viewers of o.viewers) {
    for (const kind of o.kinds) {
      for (const server of o.servers) {
        if (SERVER_KINDS[server].includes(kind)) {
          plans.push({ server, kind, viewers, slow: 0, durationS: o.durationS });
        }
      }
    }
  }
  if (o.servers.includes('onair')) {
    for (const viewers of o.big) {
      for (const kind of o.kinds)
        plans.push({ server: 'onair', kind, viewers, slow: 0, durationS: o.durationS });
    }
    if (o.stallS > 0) {
      plans.push({
        server: 'onair',
        kind: 'rtmp',
        viewers: 10,
        slow: o.stallViewers,
        durationS: o.stallS,
      });
    }
  }
  return plans;
}

async function runOne(plan: Plan, o: Options): Promise<RunRecord> {
  const name = `${plan.server}-${plan.kind}-${plan.viewers}${plan.slow ? `-stall${plan.slow}` : ''}`;
  const logs = join(o.out, 'logs');
  const jsonPath = join(o.out, `${name}.json`);
  let server;
  try {
    server = await startServer(plan.server, {
      cpu: o.serverCpu,
      resultsDir: o.out,
      logFile: join(logs, `${name}.server.log`),
    });
  } catch (error) {
    return { ...plan, result: null, error: error instanceof Error ? error.message : String(error) };
  }
  try {
    await sleep(server.settleMs);
    const args = [
      ...['-c', String(o.benchCpu), process.execPath, '--import', 'tsx', 'bench/load.ts'],
      ...['--publish', server.publishUrl, '--play', server.playUrl(plan.kind), '--kind', plan.kind],
      ...['--viewers', String(plan.viewers), '--slow', String(plan.slow), '--ramp', String(o.ramp)],
      ...[
        '--duration',
        String(plan.durationS),
        '--file',
        o.file,
        '--server-pid',
        String(server.pid),
      ],
      ...['--json', jsonPath, '--label', name],
    ];
    const log = openSync(join(logs, `${name}.load.log`), 'w');
    const child = spawn('taskset', args, { cwd: ROOT, stdio: ['ignore', log, log] });
    closeSync(log);
    const killer = setTimeout(() => child.kill('SIGKILL'), (plan.durationS + 60) * 1000);
    const code = await new Promise<number | null>((done) => {
      child.once('exit', (c) => {
        done(c);
      });
    });
    clearTimeout(killer);
    if (code !== 0)
      return { ...plan, result: null, error: `load exited with ${code} (see ${name}.load.log)` };
    const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as LoadResult;
    return { ...plan, result, error: null };
  } finally {
    await server.stop();
    await sleep(1000);
  }
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${usage}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  mkdirSync(join(o.out, 'logs'), { recursive: true });
  ensureMedia(resolve(ROOT, o.file));
  if (o.servers.includes('nginx-rtmp') && !ensureNginxRtmp()) {
    process.stderr.write('nginx-rtmp unavailable: its runs will fail\n');
  }
  const plans = planRuns(o);
  const totalS = plans.reduce((a, p) => a + p.durationS + (p.server === 'nginx-rtmp' ? 8 : 17), 0);
  process.stderr.write(
    `bench: ${plans.length} runs, about ${Math.ceil(totalS / 60)} min; results in ${o.out}\n`,
  );
  const runs: RunRecord[] = [];
  for (const [i, plan] of plans.entries()) {
    process.stderr.write(
      `\n[${i + 1}/${plans.length}] ${plan.server} ${plan.kind} x${plan.viewers}${plan.slow ? ` +${plan.slow} stalled` : ''}, ${plan.durationS} s\n`,
    );
    const run = await runOne(plan, o);
    runs.push(run);
    process.stderr.write(`${run.result ? summarize(run.result) : `FAILED: ${run.error ?? '?'}`}\n`);
    writeFileSync(join(o.out, 'runs.json'), `${JSON.stringify(runs, null, 1)}\n`);
  }
  const report = [
    `## onair bench ${new Date().toISOString()}`,
    '',
    `media: ${o.file}; ${o.durationS} s per run, ramp ${o.ramp}/s; server on CPU ${o.serverCpu}, load on CPU ${o.benchCpu}.`,
    'CPU %/Gbps = server CPU % of one core / delivered media Gbit/s; ratios < 1 are better (~ = peer measured at another viewer count).',
    'Added latency: probe viewers on their own thread (send -> receive of the same frame); all-viewer latency includes the load generator working through every socket in turn.',
    `Bench CPU marked ! (>= ${BENCH_BOUND_PCT}%): the load generator was saturated, its latency and keep-up figures are suspect. Other load: machine CPU used by neither server nor bench.`,
    '',
    markdownTable(runs),
    '',
    stallTable(runs),
    '',
    '### RSS per added viewer (slope between viewer counts)',
    '',
    ...rssSlopeLines(runs),
    '',
    '### Targets (onair)',
    '',
    ...targetLines(runs),
    '',
  ].join('\n');
  writeFileSync(join(o.out, 'report.md'), report);
  writeFileSync(join(ROOT, 'bench/results/latest.md'), report);
  process.stdout.write(`\n${report}`);
  return runs.some((r) => r.result === null) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
