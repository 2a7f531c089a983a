/**
 * `npm run bench -- <name>`: runs one benchmark; with no name, lists them. Benchmarks are imported
 * lazily so listing them does not load the gateway. Progress (per scenario) goes to stderr; results
 * stay on stdout.
 */

import { openBenchProgress } from './lib/progress.ts';

interface Benchmark {
  description: string;
  load(): Promise<{ main(): Promise<void> }>;
}

const BENCHMARKS: Record<string, Benchmark> = {
  overhead: {
    description: 'Holdfast vs a bare undici proxy vs direct, unary and SSE, at 1/16/64 connections',
    load: () => import('./overhead.ts'),
  },
  failover: {
    description: 'Errors, latency, retries and ejection under 8 upstream faults and a provider outage',
    load: () => import('./failover.ts'),
  },
  overload: {
    description:
      'Goodput, per-class success, TTFT and CPU at 1x/3x/10x capacity, admission on vs off; fairness',
    load: () => import('./overload.ts'),
  },
  scale: {
    description:
      '1, 2 and 3 replicas on PostgreSQL (+ Redis) behind a test balancer: throughput, p99, CPU/request; limit accuracy; RSS at 1,000 slow streams',
    load: () => import('./scale.ts'),
  },
};

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name) {
    console.log('Usage: npm run bench -- <name>\n\nBenchmarks:');
    for (const [n, b] of Object.entries(BENCHMARKS)) console.log(`  ${n.padEnd(10)} ${b.description}`);
    return;
  }
  const bench = BENCHMARKS[name];
  if (!bench) {
    console.error(`Unknown benchmark "${name}". Known: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const close = openBenchProgress(name);
  try {
    await (await bench.load()).main();
  } finally {
    close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
