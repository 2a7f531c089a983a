import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FuzzTarget, startFuzzTarget } from './harness.ts';
import { formatLabels, fuzzRaw, fuzzSurface, SURFACES } from './run.ts';

/**
 * A small slice of `npm run fuzz` (docs/security.md, "Fuzzing"): every surface, a few hundred generated cases each,
 * with a fixed seed so a failure replays. FUZZ_SEED overrides it; the seed is printed either way, and a
 * failure's message carries fast-check's shrunk counterexample and replay path.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 7_2026);

/** Cases per surface: the slower ones (database writes, password hashing) get fewer. */
const RUNS: Record<string, number> = {
  openai: 300,
  anthropic: 300,
  models: 150,
  'chat-api': 200,
  'status-api': 200,
  paths: 200,
  chaos: 200,
  'status-admin': 200,
  raw: 250,
};

/**
 * One gateway for the whole slice (starting one is most of this file's time). Surfaces that change state
 * (faults, incidents, maintenance windows) run last, so the doors never meet what they left behind.
 */
let target: FuzzTarget;

beforeAll(async () => {
  console.log(`fuzz slice: seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  target = await startFuzzTarget();
});

afterAll(async () => {
  await target?.close();
});

describe('fuzzing: every answer is a success or a well-formed error in the caller dialect', () => {
  const front = SURFACES.filter((s) => s.target === 'front');
  const ops = SURFACES.filter((s) => s.target === 'ops');

  for (const s of front) surfaceTest(s);

  it(`raw socket bytes: ${RUNS.raw} cases, answered in HTTP or closed, never 5xx, never silent`, async () => {
    const seed = SEED + SURFACES.length;
    const r = await fuzzRaw(target.url, { seed, numRuns: RUNS.raw! });
    console.log(`  raw (seed ${seed}): ${formatLabels(r.labels)}`);
    expect(r.failure).toBeUndefined();
    expect(await target.healthy()).toBe(true);
  });

  for (const s of ops) surfaceTest(s);
});

function surfaceTest(s: (typeof SURFACES)[number]): void {
  const seed = SEED + SURFACES.indexOf(s);
  it(`${s.name}: ${RUNS[s.name]} cases, no 500, no leak, no hang, healthy afterwards`, async () => {
    const r = await fuzzSurface(target, s.name, s.arb, { seed, numRuns: RUNS[s.name]! });
    console.log(`  ${s.name} (seed ${seed}): ${formatLabels(r.labels)}`);
    expect(r.failure).toBeUndefined();
    expect(r.cases).toBeGreaterThanOrEqual(RUNS[s.name]!);
    // Not only refusals: some cases got through to a success, so the deep paths were exercised too.
    expect([...r.labels.keys()].some((l) => l.startsWith('2'))).toBe(true);
    expect(await target.healthy()).toBe(true);
  });
}
