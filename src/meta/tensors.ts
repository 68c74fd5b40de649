import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LstmState } from './lstm.js';

/** The recurrent state of a teleporter (m1's, absent for `learn: 'teleport'`, and, when it teleports, m2's). Dispose with {@link disposeState}. */
export interface MetaState {
  m1?: LstmState;
  m2?: LstmState;
  /** Σ‖θ_t‖_F so far, a scalar (only with a finite `teleportBudget`). */
  spent?: Tensor;
}

/** Every tensor of a state, m1's first. */
export function stateTensors(state: MetaState): Tensor[] {
  return [...[state.m1, state.m2].flatMap(s => (s ? [...s.h, ...s.c] : [])), ...(state.spent ? [state.spent] : [])];
}

/**
 * Marks every tensor of a state as kept, so an enclosing `tf.tidy` (model.fit runs each batch in one)
 * does not free the recurrent state an optimizer carries to its next step.
 */
export function keepState(state: MetaState): MetaState {
  for (const t of stateTensors(state)) tf.keep(t);
  return state;
}

/** Frees every tensor of a state. */
export function disposeState(state: MetaState | undefined): void {
  if (state == null) return;
  tf.dispose(stateTensors(state));
}

/** tf.tidy for results that hold tensors in plain objects (states, lists). */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}
