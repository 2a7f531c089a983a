import { channel } from 'node:diagnostics_channel';
import type { Priority } from '../overload/queue.ts';

/**
 * Admission control's events, for metrics: queue length, waits, sheds and the adaptive limits, as they
 * happen. Published only while someone subscribes, so an unobserved gateway pays one boolean check.
 */
export const ADMISSION_CHANNEL = 'holdfast:admission:event';

export const admissionChannel = channel(ADMISSION_CHANNEL);

/** Why the queue let a request go without serving it. `queue_full`: refused on arrival. */
export type AdmissionDropReason = 'queue_full' | 'queue_timeout' | 'deadline' | 'displaced';

interface Base {
  /** Public model group. */
  model: string;
  priority: Priority;
  /** key:<id>, user:<name> or ip:<address>: the unit fairness is computed over. */
  tenant: string;
  /** Requests waiting in the group's queue after this event. */
  queued: number;
}

export type AdmissionEvent =
  /** Let through to the upstreams, at once (`waitedMs` 0) or from the queue. */
  | (Base & { type: 'admitted'; waitedMs: number; inflight: number; capacity: number })
  /** Had to wait: nothing had room. */
  | (Base & { type: 'queued'; position: number })
  /** Turned away by the queue: 503 `load_shed` or `queue_timeout` to the caller. */
  | (Base & { type: 'dropped'; reason: AdmissionDropReason; waitedMs: number })
  /** A deployment's adaptive concurrency limit moved. */
  | { type: 'limit'; deployment: string; limit: number; previous: number };

export function publishAdmission(ev: AdmissionEvent): void {
  if (admissionChannel.hasSubscribers) admissionChannel.publish(ev);
}
