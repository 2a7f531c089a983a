/**
 * Progress for long CLI work (backup, restore, import, bench), with no dependencies. On a terminal: one
 * bar redrawn in place on stderr (counts, rate, ETA). Anywhere else (CI logs, a pipe, a file): plain lines,
 * at most one per interval, so a log stays readable. Either way a summary line at the end.
 *
 * It writes to stderr by default so stdout stays free for data (`holdfast backup -` streams the backup
 * there; a benchmark's result table goes there).
 */

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** What is being done, first on every line: `backup`, `restore`, `bench overhead`. */
  label: string;
  /** What is counted: `rows`, `scenarios`. */
  unit?: string;
  /** Known amount of work; without it lines show a count and rate but no bar or ETA. */
  total?: number;
  stream?: ProgressStream;
  /** Redraw in place; default: the stream is a terminal and TERM is not `dumb`. */
  tty?: boolean;
  /** Milliseconds, monotonic; injected by tests. */
  now?: () => number;
  /** Without a terminal: the least time between two progress lines (default 5 s). */
  lineEveryMs?: number;
  /** On a terminal: the least time between two redraws (default 100 ms). */
  redrawEveryMs?: number;
  /** Nothing at all but `fail`. */
  quiet?: boolean;
  /** Show units per second (default true); off for a few slow steps, where only the ETA means much. */
  showRate?: boolean;
}

/** What a line is made of; `formatProgress` turns it into text. */
export interface ProgressState {
  label: string;
  unit: string;
  done: number;
  total: number | undefined;
  elapsedMs: number;
  /** Units per second over the recent window, or undefined before there is anything to measure. */
  rate: number | undefined;
  /** What is being worked on now (a table, a scenario). */
  detail: string | undefined;
  /** Whether lines show the rate (the ETA is computed from it either way). */
  showRate?: boolean;
}

const RATE_WINDOW_MS = 5_000;
const BAR_WIDTH = 24;

export class Progress {
  readonly #label: string;
  readonly #unit: string;
  readonly #stream: ProgressStream;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #lineEveryMs: number;
  readonly #redrawEveryMs: number;
  readonly #quiet: boolean;
  readonly #showRate: boolean;
  #total: number | undefined;
  #done = 0;
  #detail: string | undefined;
  #startedAt: number;
  #lastOutputAt = Number.NEGATIVE_INFINITY;
  /** (time, done) samples of the last few seconds, for a rate that follows changes in speed. */
  #samples: Array<[number, number]> = [];
  /** Whether start() announced the work (then finish() reports its end too). */
  #started = false;
  /** Whether a bar is on screen (its line not yet ended). */
  #drawn = false;
  #finished = false;

  constructor(opts: ProgressOptions) {
    this.#label = opts.label;
    this.#unit = opts.unit ?? 'items';
    this.#stream = opts.stream ?? process.stderr;
    this.#tty = opts.tty ?? (this.#stream.isTTY === true && process.env.TERM !== 'dumb');
    this.#now = opts.now ?? (() => performance.now());
    this.#lineEveryMs = opts.lineEveryMs ?? 5_000;
    this.#redrawEveryMs = opts.redrawEveryMs ?? 100;
    this.#quiet = opts.quiet ?? false;
    this.#showRate = opts.showRate ?? true;
    this.#total = opts.total;
    this.#startedAt = this.#now();
    this.#samples.push([this.#startedAt, 0]);
  }

  /** Whether output is a bar redrawn in place (a terminal) rather than lines. */
  get interactive(): boolean {
    return this.#tty && !this.#quiet;
  }

  get done(): number {
    return this.#done;
  }

  get elapsedMs(): number {
    return this.#now() - this.#startedAt;
  }

  /** Restarts the clock (when setup before the counted work should not count against the rate). */
  start(total?: number, detail?: string): void {
    if (total !== undefined) this.#total = total;
    this.#detail = detail;
    this.#startedAt = this.#now();
    this.#samples = [[this.#startedAt, this.#done]];
    this.#started = true;
    if (this.#quiet) return;
    if (this.#tty) this.#draw();
    else {
      const of = this.#total === undefined ? '' : `, ${formatCount(this.#total)} ${this.#unit}`;
      this.#line(`${this.#label}: starting${of}${detail ? ` (${detail})` : ''}`);
    }
    this.#lastOutputAt = this.#startedAt;
  }

  setTotal(total: number): void {
    this.#total = total;
  }

  /** Records how far the work has got without printing anything (e.g. the last step, just before finish). */
  count(done: number): void {
    this.#done = done;
    this.#sample(this.#now());
  }

  advance(n = 1, detail?: string): void {
    this.update(this.#done + n, detail);
  }

  update(done: number, detail?: string): void {
    this.#done = done;
    if (detail !== undefined) this.#detail = detail;
    const now = this.#now();
    this.#sample(now);
    if (this.#quiet || this.#finished) return;
    const every = this.#tty ? this.#redrawEveryMs : this.#lineEveryMs;
    if (now - this.#lastOutputAt < every) return;
    this.#lastOutputAt = now;
    if (this.#tty) this.#draw();
    else this.#line(formatProgress(this.state(), { tty: false }));
  }

  /** A message between progress updates (the bar is cleared first and redrawn after). */
  note(message: string): void {
    if (this.#quiet) return;
    this.#clear();
    this.#line(message);
    if (this.#tty && !this.#finished) this.#draw();
  }

  /** Takes the bar off the screen, so something else can write there; show() puts it back. */
  hide(): void {
    this.#clear();
  }

  show(): void {
    if (this.#tty && this.#started && !this.#finished && !this.#quiet && !this.#drawn) this.#draw();
  }

  /**
   * Ends the bar with its final state (when start() was called), then prints the summary lines; work too
   * quick for a bar (a config import) calls only this.
   */
  finish(summary?: string | readonly string[]): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#quiet) return;
    const state = this.state();
    if (this.#started && this.#tty) {
      this.#clear();
      this.#line(formatProgress(state, { tty: true, width: this.#width() }));
    } else if (this.#started) {
      this.#line(`${this.#label}: done, ${formatDone(state)}`);
    }
    for (const line of summary === undefined ? [] : typeof summary === 'string' ? [summary] : summary)
      this.#line(line);
  }

  /** Ends the bar and says what went wrong (`failed: …`, `refused: …`); printed even when quiet. */
  fail(message: string): void {
    this.#finished = true;
    this.#clear();
    const after = this.#done > 0 ? ` (stopped after ${formatCount(this.#done)} ${this.#unit})` : '';
    this.#line(`${this.#label}: ${message}${after}`);
  }

  state(): ProgressState {
    const now = this.#now();
    return {
      label: this.#label,
      unit: this.#unit,
      done: this.#done,
      total: this.#total,
      elapsedMs: now - this.#startedAt,
      rate: this.#rate(now),
      detail: this.#detail,
      showRate: this.#showRate,
    };
  }

  #sample(now: number): void {
    this.#samples.push([now, this.#done]);
    // Keep one sample older than the window so the rate always spans it fully.
    while (this.#samples.length > 2 && now - this.#samples[1]![0] > RATE_WINDOW_MS) this.#samples.shift();
  }

  #rate(now: number): number | undefined {
    const first = this.#samples[0]!;
    const span = now - first[0];
    if (span < 200) return undefined;
    return ((this.#done - first[1]) * 1000) / span;
  }

  #width(): number {
    // A pseudo-terminal without a size reports 0 columns.
    const columns = this.#stream.columns || 80;
    return Math.max(40, columns - 1);
  }

  #draw(): void {
    this.#stream.write(`\r${formatProgress(this.state(), { tty: true, width: this.#width() })}\x1b[K`);
    this.#drawn = true;
  }

  #clear(): void {
    if (!this.#drawn) return;
    this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }

  #line(text: string): void {
    this.#stream.write(`${text}\n`);
  }
}

/** One progress line: a bar on a terminal, words elsewhere. Pure, for tests and reuse. */
export function formatProgress(s: ProgressState, opts: { tty: boolean; width?: number }): string {
  const { total } = s;
  const known = total !== undefined && total > 0;
  const pct = known ? Math.min(100, Math.floor((s.done / total) * 100)) : undefined;
  let head = opts.tty ? s.label : `${s.label}:`;
  if (opts.tty && known) {
    const filled = Math.round((Math.min(s.done, total) / total) * BAR_WIDTH);
    head += ` ${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${String(pct).padStart(3)}%`;
  }
  const parts = [
    total === undefined
      ? `${formatCount(s.done)} ${s.unit}`
      : `${formatCount(s.done)}/${formatCount(total)} ${s.unit}${!opts.tty && pct !== undefined ? ` (${pct}%)` : ''}`,
  ];
  if (s.rate !== undefined && s.showRate !== false)
    parts.push(`${formatCount(Math.round(s.rate))} ${s.unit}/s`);
  const eta = etaMs(s);
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  if (s.detail) parts.push(s.detail);
  const line = opts.tty ? [head, ...parts].join('  ') : `${head} ${parts.join(', ')}`;
  if (opts.width !== undefined && line.length > opts.width) return `${line.slice(0, opts.width - 1)}…`;
  return line;
}

function formatDone(s: ProgressState): string {
  const seconds = s.elapsedMs / 1000;
  const rate =
    seconds > 0 && s.showRate !== false ? `, ${formatCount(Math.round(s.done / seconds))} ${s.unit}/s` : '';
  return `${formatCount(s.done)} ${s.unit} in ${formatDuration(s.elapsedMs)}${rate}`;
}

function etaMs(s: ProgressState): number | undefined {
  if (s.total === undefined || s.rate === undefined || s.rate <= 0 || s.done >= s.total) return undefined;
  return ((s.total - s.done) / s.rate) * 1000;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  // 59.6 s would round to "60 s": minutes take over where seconds would show 60.
  if (s < 59.5) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
