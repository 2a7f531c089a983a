import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time and memory of other processes, read from /proc (Linux). Elsewhere every reading is undefined
 * and the benchmark prints `-` for it.
 */

let ticks: number | undefined;

/** Clock ticks per second, the unit of /proc/<pid>/stat times. */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** User + system CPU time of `pid` so far, in milliseconds. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return ((utime + stime) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Resident set size of `pid` now (`VmRSS`) and its peak so far (`VmHWM`), in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    const rss = kb('VmRSS');
    const peak = kb('VmHWM');
    return Number.isFinite(rss)
      ? { rss: rss / 1024, peak: (Number.isFinite(peak) ? peak : rss) / 1024 }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Summed CPU milliseconds of several processes (undefined if any cannot be read). */
export function cpuMsOf(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const v = cpuMs(pid);
    if (v === undefined) return undefined;
    sum += v;
  }
  return sum;
}
