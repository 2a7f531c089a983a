import { deflateSync } from 'node:zlib';
import { encodeChunk, PNG_SIGNATURE } from './png-chunks.ts';

/**
 * A minimal truecolour PNG encoder, used to give a character without an avatar a picture to carry its card
 * in. Filter type 0 on every row: the images are tiny, so better compression is not worth the code.
 */
export function encodeRgbPng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (rgb.length !== width * height * 3) throw new RangeError('rgb length must be width * height * 3');
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return Buffer.concat([
    PNG_SIGNATURE,
    encodeChunk('IHDR', ihdr),
    encodeChunk('IDAT', deflateSync(raw)),
    encodeChunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * A 64×64 diagonal gradient whose hue comes from the name, so default avatars differ between characters
 * but the same character always gets the same one.
 */
export function defaultAvatarPng(name: string): Uint8Array {
  const size = 64;
  let hash = 2166136261;
  for (const ch of name) hash = Math.imul(hash ^ ch.codePointAt(0)!, 16777619) >>> 0;
  const hue = hash % 360;
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [r, g, b] = hslToRgb(hue, 0.55, 0.35 + (0.3 * (x + y)) / (2 * size));
      rgb.set([r, g, b], (y * size + x) * 3);
    }
  }
  return encodeRgbPng(size, size, rgb);
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}
