export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

/** Renders rows as a plain-text table that survives copy/paste into issues and commit messages. */
export function renderTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => {
        const w = widths[i] ?? 0;
        return columns[i]?.align === 'left' ? cell.padEnd(w) : cell.padStart(w);
      })
      .join('  ')
      .trimEnd();
  const out = [line(columns.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(line(r));
  return out.join('\n');
}

/** Fixed decimals, with `-` for a value that was not measured. */
export function fmt(v: number | undefined, decimals: number): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(decimals);
}

export function fmtSigned(v: number | undefined, decimals: number): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return `${v >= 0 ? '+' : ''}${v.toFixed(decimals)}`;
}
