/**
 * Metric names used by a PromQL expression (or a Grafana variable query), without a full parser: an
 * identifier is a metric unless it is a function (followed by `(`), a keyword or operator, a label
 * (inside `{…}`, `by (…)`, `on (…)`, …), a duration or a Grafana variable.
 */

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** Grafana's `label_values(metric{…}, label)` / `label_values(label)`: only the metric is one. */
function grafanaLabelValues(expr: string): string | undefined {
  const m = /^\s*label_values\(\s*(.*?)\s*\)\s*$/s.exec(expr);
  if (!m) return undefined;
  const args = m[1]!;
  const comma = args.lastIndexOf(',');
  // One argument: a label name, no metric.
  return comma < 0 ? '' : args.slice(0, comma);
}

export function metricNames(input: string): Set<string> {
  let expr = grafanaLabelValues(input) ?? input;
  expr = expr
    // String literals (label values, label_replace arguments, count_values' label).
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Label matchers, range and subquery selectors.
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // Label lists of grouping and vector matching.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    // Grafana variables: $var, ${var}, ${var:format}, $__rate_interval.
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    // Comments.
    .replace(/#[^\n]*/g, ' ');
  const out = new Set<string>();
  const token = /(\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*)|([a-zA-Z_:][a-zA-Z0-9_:]*)/gi;
  for (let m = token.exec(expr); m; m = token.exec(expr)) {
    const name = m[2];
    if (!name) continue;
    const rest = expr.slice(token.lastIndex);
    if (/^\s*\(/.test(rest)) continue;
    if (KEYWORDS.has(name.toLowerCase())) continue;
    out.add(name);
  }
  return out;
}

/** Metric families by name, with their type (`counter`, `gauge`, `histogram`, `summary`). */
export type Families = ReadonlyMap<string, string>;

/** The family a series name belongs to: a histogram's `_bucket/_sum/_count` (a summary's `_sum/_count`). */
export function familyOf(name: string, families: Families): string | undefined {
  if (families.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return undefined;
  const type = families.get(m[1]!);
  if (type === 'histogram' || (type === 'summary' && m[2] !== 'bucket')) return m[1];
  return undefined;
}

/** Names in `exprs` that are neither a series of `families` nor a name in `recorded`. */
export function unknownMetrics(
  exprs: Iterable<string>,
  families: Families,
  recorded: ReadonlySet<string> = new Set(),
): string[] {
  const missing = new Set<string>();
  for (const expr of exprs)
    for (const name of metricNames(expr))
      if (!recorded.has(name) && familyOf(name, families) === undefined) missing.add(name);
  return [...missing].sort();
}
