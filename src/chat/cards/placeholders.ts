/** Names that stand in for `{{char}}` and `{{user}}` in card text. */
export interface PlaceholderNames {
  char: string;
  user: string;
}

// One pass over the text with one pattern: a name that itself contains `{{user}}` stays literal instead of
// being expanded again.
const PLACEHOLDER = /\{\{\s*(char|user)\s*\}\}|<(bot|user)>/gi;

/**
 * Replaces `{{char}}`/`{{user}}` (any case, inner spaces allowed) and the legacy TavernAI `<BOT>`/`<USER>`.
 * Other `{{macros}}` are left as they are.
 */
export function substitutePlaceholders(text: string, names: PlaceholderNames): string {
  return text.replace(PLACEHOLDER, (_match, curly: string | undefined, legacy: string | undefined) => {
    const which = (curly ?? legacy ?? '').toLowerCase();
    return which === 'user' ? names.user : names.char;
  });
}
