import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.ts';
import { Admission } from '../../src/pipeline/admission.ts';
import { manualClock, simDeployments, testEngine } from '../helpers/engine.ts';

describe('ResilienceEngine: ejections from other replicas', () => {
  it('keeps traffic off a remotely ejected deployment until the ejection ends', async () => {
    const clock = manualClock();
    const { engine, ask } = testEngine([{ name: 'chat', deployments: simDeployments(['a', 'b']) }], clock);
    const before = new Set<string | undefined>();
    for (let i = 0; i < 20; i++) before.add((await ask()).deployment);
    expect(before).toEqual(new Set(['a', 'b']));

    engine.applyRemote('a', clock.now() + 5_000);
    expect(engine.health('a')).toBe('ejected');
    for (let i = 0; i < 20; i++) expect((await ask()).deployment).toBe('b');
    // Its own outlier history is untouched: the ejection was someone else's.
    expect(engine.outlier.state('a')).toBe('healthy');

    clock.t += 5_000;
    expect(engine.health('a')).toBe('healthy');
    const after = new Set<string | undefined>();
    for (let i = 0; i < 20; i++) after.add((await ask()).deployment);
    expect(after).toEqual(new Set(['a', 'b']));
  });

  it('ends a remote ejection early when no replica ejects it any more', async () => {
    const clock = manualClock();
    const { engine, ask } = testEngine([{ name: 'chat', deployments: simDeployments(['a', 'b']) }], clock);
    engine.applyRemote('a', clock.now() + 60_000);
    engine.applyRemote('a', undefined);
    expect(engine.health('a')).toBe('healthy');
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 20; i++) seen.add((await ask()).deployment);
    expect(seen.has('a')).toBe(true);
  });

  it('still serves a lone deployment through panic routing, as for a local ejection', async () => {
    const clock = manualClock();
    const { engine, ask } = testEngine([{ name: 'chat', deployments: simDeployments(['only']) }], clock);
    engine.applyRemote('only', clock.now() + 5_000);
    expect(await ask()).toEqual({ deployment: 'only' });
  });

  it('sends a remotely ejected primary’s traffic to the fallback group', async () => {
    const clock = manualClock();
    const { engine, ask } = testEngine(
      [
        { name: 'chat', deployments: simDeployments(['p']), fallbacks: ['spare'] },
        { name: 'spare', deployments: simDeployments(['s']) },
      ],
      clock,
    );
    engine.applyRemote('p', clock.now() + 5_000);
    expect(await ask()).toEqual({ deployment: 's' });
  });

  it('tells listeners of its own ejections (with their end) and recoveries', () => {
    const clock = manualClock();
    const { engine } = testEngine([{ name: 'chat', deployments: simDeployments(['a', 'b']) }], clock, {
      outlier: { consecutive_failures: 2, base_ejection_ms: 10_000, probe_successes: 1 },
    });
    const heard: Array<[string, string, number | undefined]> = [];
    const off = engine.onOutlierChange((id, to, until) => heard.push([id, to, until]));
    engine.outlier.recordFailure('a');
    engine.outlier.recordFailure('a');
    clock.t += 10_000;
    engine.outlier.recordSuccess('a');
    expect(heard).toEqual([
      ['a', 'ejected', 11_000],
      ['a', 'probing', undefined],
      ['a', 'healthy', undefined],
    ]);
    off();
    engine.outlier.recordFailure('b');
    engine.outlier.recordFailure('b');
    expect(heard).toHaveLength(3);
  });
});

describe('Admission: ejections from other replicas', () => {
  it("takes a remotely ejected deployment's room out of the model's capacity until the ejection ends", () => {
    const clock = manualClock();
    const models = [{ name: 'chat', deployments: simDeployments(['a', 'b']) }];
    const { engine } = testEngine(models, clock);
    const admission = new Admission({
      models: buildConfig({ models }, {}).models,
      engine,
      clock,
      defaultOutputTokens: 16,
      limits: { initial: 4, min: 1, max: 64 },
    });
    try {
      expect(admission.capacity('chat')).toBe(8);
      engine.applyRemote('a', clock.now() + 5_000);
      expect(admission.capacity('chat')).toBe(4);
      clock.t += 5_000;
      expect(admission.capacity('chat')).toBe(8);
    } finally {
      admission.close();
    }
  });
});
