import { parseArgs } from 'node:util';
import { simulatorOptions } from '../config/schema.ts';
import { startSimulator } from '../providers/simulator/server.ts';

export async function simulateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      ttft: { type: 'string' },
      tps: { type: 'string' },
      tokens: { type: 'string' },
      capacity: { type: 'string' },
    },
  });
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const options = simulatorOptions.parse({
    ...(values.ttft ? { ttft_ms: num(values.ttft) } : {}),
    ...(values.tps ? { tokens_per_sec: num(values.tps) } : {}),
    ...(values.tokens ? { answer_tokens: num(values.tokens) } : {}),
    ...(values.capacity ? { capacity: num(values.capacity) } : {}),
  });
  const sim = await startSimulator({
    options,
    host: values.host ?? '127.0.0.1',
    port: num(values.port) ?? 9100,
    name: 'simulator',
  });
  process.stdout.write(
    [
      `Holdfast simulator on ${sim.origin}`,
      `  OpenAI wire:    POST ${sim.openaiBaseUrl}/chat/completions`,
      `  Anthropic wire: POST ${sim.anthropicBaseUrl}/v1/messages`,
      `  faults:         GET/POST ${sim.origin}/_sim/faults   stats: GET ${sim.origin}/_sim/stats`,
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await sim.close();
  return 0;
}
