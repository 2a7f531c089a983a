import { describe, expect, it } from 'vitest';
import { benchScenario, benchScenarios, openBenchProgress } from '../../bench/lib/progress.ts';

describe('bench progress', () => {
  it('reports each scenario on its own stream and leaves what the benchmark prints untouched', () => {
    let err = '';
    const stream = {
      isTTY: false,
      write(chunk: string) {
        err += chunk;
        return true;
      },
    };
    // Without an open reporter (a benchmark run some other way) the calls do nothing.
    benchScenarios(2);
    benchScenario('ignored');
    expect(err).toBe('');

    const printed: string[] = [];
    const realWrite = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      printed.push(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      const close = openBenchProgress('demo', stream);
      benchScenarios(2);
      benchScenario('unary 1 conns');
      process.stdout.write('  unary 1 conns  direct  1598 req/s\n');
      benchScenario('sse 1 conns');
      close();
    } finally {
      process.stdout.write = realWrite;
    }
    expect(printed.join('')).toBe('  unary 1 conns  direct  1598 req/s\n');
    const lines = err.trimEnd().split('\n');
    expect(lines[0]).toBe('bench demo: starting, 2 scenarios');
    expect(lines[1]).toBe('bench demo: 0/2 scenarios (0%), unary 1 conns');
    expect(lines[2]).toMatch(/^bench demo: 1\/2 scenarios \(50%\), (ETA [^,]+, )?sse 1 conns$/);
    expect(lines[3]).toMatch(/^bench demo: done, 2 scenarios in \d+ ms$/);
    expect(lines).toHaveLength(4);
  });
});
