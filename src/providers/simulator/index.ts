import type { Dialect } from '../../core/door.ts';
import type { SimulatorHandle } from './server.ts';

export {
  type Admission,
  CapacityGate,
  capacityRejection,
  codeForStatus,
  createRng,
  decideFault,
  Pacer,
  type RequestFault,
  type StreamFault,
  streamFaultAt,
  unaryFault,
} from './faults.ts';
export {
  type FaultsPatch,
  type SimulatorHandle,
  type SimulatorOptionsInput,
  type SimulatorStats,
  type StartSimulatorOptions,
  startSimulator,
} from './server.ts';
export {
  type AnswerPiece,
  conversationKey,
  conversationSeed,
  estimateInputTokens,
  mentionsTool,
  type SimulatedAnswer,
  simulateAnswer,
  tokenize,
} from './text.ts';

/**
 * The base_url a deployment speaking `dialect` uses against a running simulator: OpenAI clients expect
 * the `/v1` prefix in base_url, Anthropic clients add `/v1/messages` themselves.
 */
export function simulatedDeploymentBaseUrl(
  handle: Pick<SimulatorHandle, 'openaiBaseUrl' | 'anthropicBaseUrl'>,
  dialect: Dialect,
): string {
  return dialect === 'openai' ? handle.openaiBaseUrl : handle.anthropicBaseUrl;
}
