/**
 * Hard ceilings for untrusted card files. Every reader checks these before it allocates, so a hostile
 * upload costs at most a few megabytes and a bounded number of loop turns.
 */
export const CARD_LIMITS = {
  /** A card's JSON text (plain upload, decoded PNG chunk, or card.json in a .charx). */
  maxJsonBytes: 1024 * 1024,
  /** A whole PNG card, image included. */
  maxPngBytes: 5 * 1024 * 1024,
  /** Chunks walked in one PNG; encoders split IDAT, so real avatars use tens, not thousands. */
  maxPngChunks: 4096,
  /** A whole .charx archive; assets beyond the card and its main icon are never inflated. */
  maxCharxBytes: 10 * 1024 * 1024,
  /** Entries listed in a .charx central directory. */
  maxCharxEntries: 10_000,
  /** The avatar taken from a .charx icon asset. */
  maxAvatarBytes: 5 * 1024 * 1024,
  /** Nesting of arrays/objects in card JSON: deeper input would only serve to blow the stack on export. */
  maxJsonDepth: 64,
  /** Lorebook size: matching cost is entries × keys × scanned text, so both are capped. */
  maxLorebookEntries: 5000,
  maxKeysPerEntry: 200,
} as const;
