import type { BufferState } from './port.ts';

/**
 * New work (a chat message) is refused once the buffer is this full, so that answers already running
 * can still write their text and final state into the rest.
 */
export const HIGH_WATER = 0.9;

export interface Usage {
  entries: number;
  bytes: number;
}

export interface Limits {
  maxEntries: number;
  maxBytes: number;
}

export function bufferState(u: Usage, l: Limits): BufferState {
  if (u.entries === 0) return 'ok';
  return u.bytes >= l.maxBytes * HIGH_WATER || u.entries >= l.maxEntries * HIGH_WATER ? 'full' : 'buffering';
}

/** Whether one more record of `size` bytes fits, for new work or for work already accepted. */
export function admits(u: Usage, l: Limits, size: number, admission: 'new' | 'continuing'): boolean {
  const f = admission === 'new' ? HIGH_WATER : 1;
  return u.bytes + size <= l.maxBytes * f && u.entries + 1 <= l.maxEntries * f;
}

/** SQLSTATEs worth trying again as they are: serialization failure, deadlock, lock timeout. */
const TRANSIENT = new Set(['40001', '40P01', '55P03']);
/** Tries of a replayed write the database refuses (not an outage) before it is set aside. */
export const MAX_REPLAY_TRIES = 5;

/**
 * What the drainer does when the database refuses a replayed write for another reason than being
 * unreachable: try again (transient conflicts, and anything unknown a few times), or set it aside
 * (logged loudly, counted) so one bad record cannot block everything behind it forever.
 */
export function onReplayError(
  code: string | undefined,
  tries: number,
  conflict: boolean,
): 'retry' | 'reject' {
  if (conflict) return 'reject';
  // Integrity and data errors (classes 22, 23) will fail the same way every time.
  if (code !== undefined && /^2[23]/.test(code)) return 'reject';
  if (code !== undefined && TRANSIENT.has(code)) return tries < MAX_REPLAY_TRIES * 4 ? 'retry' : 'reject';
  return tries < MAX_REPLAY_TRIES ? 'retry' : 'reject';
}
