import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatProgress,
  Progress,
  type ProgressStream,
} from '../../src/cli/progress.ts';

class Capture implements ProgressStream {
  out = '';
  isTTY: boolean;
  columns = 100;
  constructor(tty: boolean) {
    this.isTTY = tty;
  }
  write(chunk: string): boolean {
    this.out += chunk;
    return true;
  }
}

function clock() {
  const c = { t: 1_000, now: () => c.t };
  return c;
}

describe('progress off a terminal (CI logs, pipes)', () => {
  it('prints a start line, at most one line per interval with rate and ETA, then a done line and the summary', () => {
    const s = new Capture(false);
    const c = clock();
    const p = new Progress({ label: 'backup', unit: 'rows', stream: s, now: c.now, lineEveryMs: 1_000 });
    p.start(10_000, 'pglite ./data');
    for (let i = 0; i < 20; i++) {
      c.t += 100;
      p.advance(200, 'messages');
    }
    c.t += 500;
    p.advance(1_000, 'message_chunks');
    p.finish(['backup: wrote nightly.jsonl.gz']);
    expect(s.out.split('\n')).toEqual([
      'backup: starting, 10,000 rows (pglite ./data)',
      'backup: 2,000/10,000 rows (20%), 2,000 rows/s, ETA 4.0 s, messages',
      'backup: 4,000/10,000 rows (40%), 2,000 rows/s, ETA 3.0 s, messages',
      'backup: done, 5,000 rows in 2.5 s, 2,000 rows/s',
      'backup: wrote nightly.jsonl.gz',
      '',
    ]);
    expect([s.out.includes('\r'), s.out.includes('\x1b')]).toEqual([false, false]);
  });

  it('follows a change of speed within seconds rather than averaging the whole run', () => {
    const s = new Capture(false);
    const c = clock();
    const p = new Progress({ label: 'restore', unit: 'rows', stream: s, now: c.now, lineEveryMs: 60_000 });
    p.start(1_000_000);
    for (let i = 0; i < 60; i++) {
      c.t += 1_000;
      p.advance(10_000);
    }
    for (let i = 0; i < 10; i++) {
      c.t += 1_000;
      p.advance(1_000);
    }
    // Overall average would say ~8,700 rows/s; the last seconds ran at 1,000.
    expect(p.state().rate).toBeCloseTo(1_000, -1);
  });

  it('prints nothing when quiet, except a failure', () => {
    const s = new Capture(false);
    const p = new Progress({ label: 'restore', unit: 'rows', stream: s, quiet: true });
    p.start(10);
    p.advance(3);
    p.finish('summary');
    expect(s.out).toBe('');
    const q = new Progress({ label: 'restore', unit: 'rows', stream: s, quiet: true });
    q.advance(3);
    q.fail('failed: checksum mismatch');
    expect(s.out).toBe('restore: failed: checksum mismatch (stopped after 3 rows)\n');
  });
});

describe('progress on a terminal', () => {
  it('redraws one bar in place, throttled, and leaves it as a finished line', () => {
    const s = new Capture(true);
    const c = clock();
    const p = new Progress({ label: 'restore', unit: 'rows', stream: s, now: c.now, redrawEveryMs: 100 });
    p.start(1_000);
    const draws = () => s.out.split('\r').length - 1;
    const afterStart = draws();
    p.advance(10); // same instant: no redraw
    expect(draws()).toBe(afterStart);
    c.t += 250;
    p.advance(490, 'users');
    expect(draws()).toBe(afterStart + 1);
    const bar = (filled: number) => `${'█'.repeat(filled)}${'░'.repeat(24 - filled)}`;
    const CLEAR = '\x1b[K';
    const half = `\rrestore ${bar(12)}  50%  500/1,000 rows  2,000 rows/s  ETA 250 ms  users${CLEAR}`;
    expect(s.out.endsWith(half)).toBe(true);
    p.note('restore: a message between updates');
    expect(s.out.endsWith(`${half}\r${CLEAR}restore: a message between updates\n${half}`)).toBe(true);
    c.t += 250;
    p.advance(500);
    p.finish('restore: summary');
    expect(
      s.out.endsWith(
        `\r${CLEAR}restore ${bar(24)} 100%  1,000/1,000 rows  2,000 rows/s  users\nrestore: summary\n`,
      ),
    ).toBe(true);
  });

  it('fits the line to the terminal width', () => {
    const line = formatProgress(
      {
        label: 'bench',
        unit: 'scenarios',
        done: 3,
        total: 9,
        elapsedMs: 1,
        rate: 1,
        detail: 'x'.repeat(200),
      },
      { tty: true, width: 60 },
    );
    expect(line).toHaveLength(60);
    expect(line.endsWith('…')).toBe(true);
  });

  it('shows a count without a bar when the total is unknown', () => {
    const line = formatProgress(
      {
        label: 'verify',
        unit: 'rows',
        done: 1234,
        total: undefined,
        elapsedMs: 1,
        rate: undefined,
        detail: undefined,
      },
      { tty: true },
    );
    expect(line).toBe('verify  1,234 rows');
  });
});

describe('number formats', () => {
  it('formats counts, sizes and durations for people', () => {
    expect(formatCount(1234567.4)).toBe('1,234,567');
    expect([
      formatBytes(512),
      formatBytes(1536),
      formatBytes(25 * 1024 * 1024),
      formatBytes(3 * 1024 ** 3),
    ]).toEqual(['512 B', '1.5 KB', '25 MB', '3.0 GB']);
    expect([
      formatDuration(250),
      formatDuration(2_500),
      formatDuration(59_600),
      formatDuration(125_000),
    ]).toEqual(['250 ms', '2.5 s', '1m00s', '2m05s']);
    expect(formatDuration(3 * 3600_000 + 5 * 60_000)).toBe('3h05m');
  });
});
