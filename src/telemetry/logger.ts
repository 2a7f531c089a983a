import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'holdfast' },
    // Secrets must never reach logs, whichever field they ride in.
    redact: {
      paths: ['*.api_key', '*.apiKey', '*.authorization', '*["x-api-key"]', 'headers.authorization'],
      censor: '[redacted]',
    },
  });
}
