import { expect } from 'vitest';
import { type DeploymentConfig, deploymentSchema } from '../../src/config/schema.ts';
import type { ChatRequest } from '../../src/core/chat.ts';
import { createOpenAIAdapter } from '../../src/providers/openai/adapter.ts';
import { openaiFixtures } from '../fixtures/openai/index.ts';
import { adapterContract, type ReceivedRequest } from './adapter-contract.ts';

const KEY = 'sk-test-contract';

function deployment(baseUrl: string, extra: Partial<DeploymentConfig> = {}): DeploymentConfig {
  return deploymentSchema.parse({
    id: 'openai-test',
    provider: 'openai',
    base_url: baseUrl,
    api_key: KEY,
    model: 'gpt-4o-mini',
    headers: { 'openai-organization': 'org-test' },
    timeouts: { connect_ms: 2_000, first_byte_ms: 5_000, idle_ms: 5_000, total_ms: 10_000 },
    ...extra,
  });
}

/** What the adapter must have sent for the contract's requests, in OpenAI's wire shape. */
function checkBody(received: ReceivedRequest, sent: ChatRequest): void {
  const body = received.body as Record<string, unknown>;
  expect(received.method).toBe('POST');
  expect(received.headers['content-type']).toBe('application/json');
  expect(received.headers['openai-organization']).toBe('org-test');
  expect(body.model).toBe('gpt-4o-mini');
  expect(body.max_tokens).toBe(64);
  if (sent.stream) {
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
  } else {
    expect(body.stream).toBeUndefined();
  }
  if (sent.tools) {
    expect(body.messages).toEqual([{ role: 'user', content: 'What is the weather in Paris?' }]);
    expect(body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ]);
    expect(body.tool_choice).toBe('auto');
  } else {
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Say hello.' },
    ]);
    expect(body.tools).toBeUndefined();
  }
}

adapterContract('openai', {
  fixtures: openaiFixtures(),
  makeAdapter: (baseUrl) => createOpenAIAdapter(deployment(`${baseUrl}/v1`)),
  checkRequest(received, sent) {
    expect(received.url).toBe('/v1/chat/completions');
    expect(received.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(received.headers['api-key']).toBeUndefined();
    checkBody(received, sent);
  },
});

adapterContract('openai (Azure)', {
  fixtures: openaiFixtures('azure'),
  makeAdapter: (baseUrl) =>
    createOpenAIAdapter(
      deployment(baseUrl, { azure_deployment: 'gpt4o-mini-prod', api_version: '2025-01-01-preview' }),
    ),
  checkRequest(received, sent) {
    expect(received.url).toBe(
      '/openai/deployments/gpt4o-mini-prod/chat/completions?api-version=2025-01-01-preview',
    );
    expect(received.headers['api-key']).toBe(KEY);
    expect(received.headers.authorization).toBeUndefined();
    checkBody(received, sent);
  },
});
