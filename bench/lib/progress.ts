import { Progress, type ProgressStream } from '../../src/cli/progress.ts';

/**
 * Per-scenario progress for `npm run bench`, on stderr, so a benchmark's results on stdout read exactly
 * as they did before. run.ts opens it around a benchmark; the benchmark says how many scenarios it will
 * run and names each one as it starts. Called without run.ts (a benchmark imported elsewhere), the calls
 * do nothing.
 */

interface Current {
  progress: Progress;
  started: number;
  ticker?: ReturnType<typeof setInterval>;
}

let current: Current | undefined;

/** Opens the reporter for one benchmark; the returned function ends it. `stream` is for tests. */
export function openBenchProgress(name: string, stream?: ProgressStream): () => void {
  const progress = new Progress({
    label: `bench ${name}`,
    unit: 'scenarios',
    lineEveryMs: 0,
    showRate: false,
    ...(stream ? { stream } : {}),
  });
  current = { progress, started: 0 };
  // On a terminal the bar sits on the line the results would print to: lift it for every stdout write.
  const write = process.stdout.write;
  process.stdout.write = ((...args: Parameters<typeof write>) => {
    progress.hide();
    const ok = write.apply(process.stdout, args);
    progress.show();
    return ok;
  }) as typeof process.stdout.write;
  return () => {
    clearInterval(current?.ticker);
    process.stdout.write = write;
    if (current?.started) progress.count(current.started);
    progress.finish();
    current = undefined;
  };
}

/** How many scenarios this run will go through (call once, before the first). */
export function benchScenarios(total: number): void {
  if (!current) return;
  const { progress } = current;
  progress.start(total);
  // Scenarios last seconds to minutes: keep a bar's ETA moving between them (lines come per scenario).
  if (progress.interactive) {
    current.ticker = setInterval(() => progress.update(progress.done), 1_000);
    current.ticker.unref();
  }
}

/** A scenario begins: the one before it is done. */
export function benchScenario(label: string): void {
  if (!current) return;
  current.progress.update(current.started, label);
  current.started += 1;
}
