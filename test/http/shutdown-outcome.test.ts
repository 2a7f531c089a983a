import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { OUTCOME_CHANNEL, type OutcomeRecord } from '../../src/telemetry/outcome.ts';
import { ADMIN_KEY, startTestGateway } from '../helpers/gateway.ts';

describe('a request cut by shutdown', () => {
  it('is recorded as SHUTTING_DOWN, not as the caller hanging up', async () => {
    const t = await startTestGateway({
      models: [
        {
          name: 'slow',
          deployments: [
            {
              id: 'slow-d',
              provider: 'simulator',
              model: 's',
              simulator: { ttft_ms: 1, tokens_per_sec: 5, answer_tokens: 100 },
            },
          ],
        },
      ],
    });
    const records: OutcomeRecord[] = [];
    const onOutcome = (m: unknown): void => {
      records.push(m as OutcomeRecord);
    };
    subscribe(OUTCOME_CHANNEL, onOutcome);
    try {
      const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: ADMIN_KEY, maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: 'slow',
        stream: true,
        messages: [{ role: 'user', content: 'a long answer please' }],
      });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      const reading = (async () => {
        try {
          for (let n = await it.next(); !n.done; n = await it.next());
        } catch {
          // the cut may surface as a broken stream
        }
      })();
      await t.gw.close(100);
      await reading;
      const mine = records.filter((r) => r.model === 'slow');
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        flag: 'SHUTTING_DOWN',
        errorCode: 'shutting_down',
        outcome: 'gateway_error',
      });
    } finally {
      unsubscribe(OUTCOME_CHANNEL, onOutcome);
      await t.close();
    }
  });
});
