import type { CardAsset } from './character.ts';
import { CardError } from './errors.ts';
import { CARD_LIMITS } from './limits.ts';
import { type ParsedCard, parseCardJson } from './parse.ts';
import { isZip, openZip } from './zip-reader.ts';

/**
 * Reads a .charx archive (Character Card V3's zip form): `card.json` at the root plus assets referenced as
 * `embeded://path` (the spec's spelling). The main icon, if embedded, becomes the avatar; other assets are
 * left unread and their URIs kept verbatim.
 */
export function parseCharx(bytes: Uint8Array): ParsedCard {
  if (bytes.byteLength > CARD_LIMITS.maxCharxBytes) {
    throw new CardError('card_too_large', `.charx is larger than ${CARD_LIMITS.maxCharxBytes} bytes`);
  }
  if (!isZip(bytes)) throw new CardError('charx_invalid', 'not a zip archive');
  const zip = openZip(bytes);
  const json = zip.read('card.json', CARD_LIMITS.maxJsonBytes);
  if (!json) throw new CardError('charx_invalid', 'archive has no card.json at its root');
  const parsed = parseCardJson(json);
  const icon = mainIcon(parsed.character.assets);
  if (icon) {
    const image = zip.read(icon.path, CARD_LIMITS.maxAvatarBytes);
    const mime = IMAGE_TYPES[icon.ext.toLowerCase()];
    if (image && mime)
      parsed.character.avatar = `data:${mime};base64,${Buffer.from(image).toString('base64')}`;
  }
  return parsed;
}

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
};

function mainIcon(assets: CardAsset[] | null): { path: string; ext: string } | undefined {
  const icons = (assets ?? []).filter((a) => a.type === 'icon');
  const icon = icons.find((a) => a.name === 'main') ?? icons[0];
  const match = icon?.uri.match(/^embedd?ed:\/\/(.+)$/);
  return icon && match ? { path: match[1]!, ext: icon.ext } : undefined;
}
