import { describe, expect, it } from 'vitest';
import { substitutePlaceholders } from '../../../src/chat/cards/index.ts';

const names = { char: 'Maren', user: 'Ash' };

describe('substitutePlaceholders', () => {
  it('replaces {{char}} and {{user}} in any case', () => {
    expect(substitutePlaceholders('{{char}} greets {{user}}. {{CHAR}}/{{User}}/{{ char }}', names)).toBe(
      'Maren greets Ash. Maren/Ash/Maren',
    );
  });

  it('replaces the legacy <BOT> and <USER>', () => {
    expect(substitutePlaceholders('<BOT>: hi <USER>, and <bot>/<user>', names)).toBe(
      'Maren: hi Ash, and Maren/Ash',
    );
  });

  it('does not expand placeholders inside the substituted names', () => {
    expect(substitutePlaceholders('{{user}} meets {{char}}', { char: '{{user}}', user: '{{char}}' })).toBe(
      '{{char}} meets {{user}}',
    );
  });

  it('leaves other macros and $-patterns alone', () => {
    expect(substitutePlaceholders('{{original}} {{random}} {{char}}', { char: "$& $1 $'", user: 'u' })).toBe(
      "{{original}} {{random}} $& $1 $'",
    );
  });
});
