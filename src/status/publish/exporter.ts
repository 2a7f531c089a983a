import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { StatusView } from '../view.ts';
import { renderSite, type SiteFile } from './site.ts';

/**
 * Writes each file atomically (a temp file in the same folder, then rename), so a static server never
 * serves half a page, even if the gateway dies mid-export.
 */
export async function writeSiteDir(dir: string, files: ReadonlyMap<string, SiteFile>): Promise<number> {
  const root = resolve(dir);
  let n = 0;
  for (const [path, file] of files) {
    const target = resolve(root, path);
    if (!target.startsWith(root + sep)) throw new Error(`export path escapes the folder: ${path}`);
    await mkdir(dirname(target), { recursive: true });
    const tmp = join(dirname(target), `.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(tmp, file.body);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    n++;
  }
  return n;
}

export type S3Config = NonNullable<Config['status']['export']['s3']>;

/** The AWS SDK weighs about 9 MB in memory: it is loaded only when a bucket is configured. */
const awsS3 = () => import('@aws-sdk/client-s3');

export async function s3Client(s3: S3Config): Promise<S3Client> {
  const { S3Client } = await awsS3();
  return new S3Client({
    region: s3.region,
    forcePathStyle: s3.force_path_style,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.access_key_id && s3.secret_access_key
      ? { credentials: { accessKeyId: s3.access_key_id, secretAccessKey: s3.secret_access_key } }
      : {}),
  });
}

const hash = (f: SiteFile) => createHash('sha256').update(f.type).update('\0').update(f.body).digest('hex');

/**
 * Uploads the files to the bucket; `known` (path → content hash of the last upload) lets repeated exports
 * send only what changed. Short cache lifetimes: this copy exists to be current during an outage.
 */
export async function uploadSite(
  client: S3Client,
  s3: S3Config,
  files: ReadonlyMap<string, SiteFile>,
  known: Map<string, string> = new Map(),
): Promise<number> {
  const prefix = s3.prefix === '' || s3.prefix.endsWith('/') ? s3.prefix : `${s3.prefix}/`;
  const { PutObjectCommand } = await awsS3();
  let n = 0;
  for (const [path, file] of files) {
    const h = hash(file);
    if (known.get(path) === h) continue;
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${prefix}${path}`,
        Body: file.body,
        ContentType: file.type,
        CacheControl: path.startsWith('assets/') ? 'public, max-age=300' : 'public, max-age=30',
      }),
    );
    known.set(path, h);
    n++;
  }
  return n;
}

export interface ExportResult {
  files: number;
  written: number;
  uploaded: number;
}

export interface Exporter {
  /** Asks for an export soon; events close together cause one. */
  schedule(): void;
  /** Exports now (after any export in progress). */
  run(): Promise<ExportResult>;
  close(): Promise<void>;
}

export interface ExporterOptions {
  view: StatusView;
  config: Config['status'];
  logger: Logger;
  dir?: string | undefined;
  s3?: S3Config | undefined;
  s3client?: S3Client;
  /** Quiet time after the last event before exporting. */
  debounceMs?: number;
  /** …but never later than this after the first. */
  maxWaitMs?: number;
}

export function createExporter(o: ExporterOptions): Exporter {
  const debounceMs = o.debounceMs ?? 2_000;
  const maxWaitMs = o.maxWaitMs ?? 10_000;
  const dir = o.dir ?? o.config.export.dir;
  const s3 = o.s3 ?? o.config.export.s3;
  let client: Promise<S3Client> | null = o.s3client ? Promise.resolve(o.s3client) : null;
  const clientFor = (c: S3Config): Promise<S3Client> => {
    client ??= s3Client(c);
    return client;
  };
  const uploaded = new Map<string, string>();
  let timer: NodeJS.Timeout | null = null;
  let firstAsk: number | null = null;
  let current: Promise<ExportResult> = Promise.resolve({ files: 0, written: 0, uploaded: 0 });
  let closed = false;

  const once = async (): Promise<ExportResult> => {
    const files = await renderSite(o.view, o.config);
    const written = dir ? await writeSiteDir(dir, files) : 0;
    const up = s3 ? await uploadSite(await clientFor(s3), s3, files, uploaded) : 0;
    o.logger.debug({ files: files.size, written, uploaded: up }, 'status export written');
    return { files: files.size, written, uploaded: up };
  };

  const run = (): Promise<ExportResult> => {
    current = current.catch(() => undefined).then(once);
    return current;
  };

  const fire = () => {
    timer = null;
    firstAsk = null;
    run().catch((err) => o.logger.error({ err }, 'status export failed; the previous copy stays in place'));
  };

  return {
    schedule() {
      if (closed || (!dir && !s3)) return;
      const now = Date.now();
      firstAsk ??= now;
      if (timer) clearTimeout(timer);
      const wait = Math.max(0, Math.min(debounceMs, firstAsk + maxWaitMs - now));
      timer = setTimeout(fire, wait);
      timer.unref();
    },
    run,
    async close() {
      closed = true;
      const pending = timer !== null;
      if (timer) clearTimeout(timer);
      timer = null;
      // An export that was waiting for quiet still runs: the copy on disk should be the last truth.
      if (pending) await run().catch((err) => o.logger.error({ err }, 'status export failed at shutdown'));
      await current.catch(() => undefined);
      (await client?.catch(() => undefined))?.destroy();
    },
  };
}
