import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Gateway } from '../app.ts';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

export interface ConfigWatchOptions {
  file: string;
  /** Reads and validates the file (throws ConfigError); the CLI re-applies its --port/--host overrides. */
  load(): Config;
  /** File-change events arrive in bursts (editors write, rename, chmod): act once they settle. */
  debounceMs?: number;
}

export interface ConfigWatch {
  /** Reloads now (SIGHUP does this); resolves when the attempt is over, whatever its result. */
  reload(reason: string): Promise<void>;
  close(): void;
}

function digest(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * Reloads the gateway's config on SIGHUP and when the file changes. A file that does not parse or
 * validate is rejected with every problem logged, and the running config stays; so does one written
 * half-way (the next write triggers another attempt). The directory is watched, not the file, because
 * editors and config-management tools replace files by rename, which a file watch would lose.
 */
export function watchConfig(gw: Gateway, opts: ConfigWatchOptions): ConfigWatch {
  const log = gw.logger;
  let last = digest(opts.file);
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const attempt = async (reason: string): Promise<void> => {
    let next: Config;
    try {
      next = opts.load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.error(
        { reason, file: opts.file, problems: err.issues },
        'config reload rejected; keeping the running config',
      );
      return;
    }
    try {
      const r = await gw.reload(next);
      if (r.applied.length === 0 && r.needsRestart.length === 0) {
        log.info({ reason, file: opts.file }, 'config unchanged');
        return;
      }
      if (r.needsRestart.length > 0)
        log.warn(
          { reason, sections: r.needsRestart },
          'config sections changed that only take effect after a restart; running with the old values',
        );
      if (r.applied.length > 0)
        log.info(
          { reason, generation: r.generation, applied: r.applied, carried: r.carried },
          'config reloaded',
        );
    } catch (err) {
      const problems = err instanceof ConfigError ? err.issues : [(err as Error).message];
      log.error({ reason, file: opts.file, problems }, 'config reload failed; keeping the running config');
    }
  };
  const reload = (reason: string): Promise<void> => {
    chain = chain
      .then(() => attempt(reason))
      .catch((err: unknown) => log.error({ err }, 'config reload crashed'));
    return chain;
  };

  const onHup = (): void => {
    last = digest(opts.file);
    void reload('SIGHUP');
  };
  process.on('SIGHUP', onHup);

  const name = basename(opts.file);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(opts.file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const now = digest(opts.file);
        // Touches, chmods and rewrites with the same bytes are not changes.
        if (now === undefined || now === last) return;
        last = now;
        void reload('file changed');
      }, opts.debounceMs ?? 300);
    });
  } catch (err) {
    log.warn({ err, file: opts.file }, 'cannot watch the config file; reload with SIGHUP');
  }

  return {
    reload,
    close() {
      process.off('SIGHUP', onHup);
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
