import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/**
 * What every results file opens with: which benchmark, when, on which commit, Node and machine. With
 * `srcDirty`, also whether src/ had uncommitted changes: the numbers are then for that tree, not the commit.
 */
export function runInfo(benchmark: string, opts: { srcDirty?: boolean } = {}) {
  const srcStatus = opts.srcDirty ? git(['status', '--porcelain', '--', 'src']) : undefined;
  const cpu = cpus();
  return {
    benchmark,
    date: new Date().toISOString(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    ...(opts.srcDirty ? { srcDirty: srcStatus === undefined ? undefined : srcStatus !== '' } : {}),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model,
  };
}
