import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';

/** Objective names: ‖∇L‖² (Algorithm 1, line 3) or the preconditioned ‖∇L‖²_A (dissertation eq. 5.7). */
export const OBJECTIVES = ['gradNorm', 'preconditionedGradNorm'] as const;
export type ObjectiveName = (typeof OBJECTIVES)[number];

/**
 * A diagonal preconditioner, one tensor per parameter (null: weight 1). For AdaGrad it is
 * (ε + accumulator)^(-1/2), for RMSProp (ε + ms)^(-1/2), for Adam (ε + √v̂)⁻¹.
 */
export type Preconditioner = ReadonlyArray<Tensor | null>;

/** Σ_i Σ A_i ∘ g_i²: the squared (preconditioned) gradient norm, as a differentiable scalar. */
export function gradNormSq(grads: ReadonlyArray<Tensor | null>, preconditioner?: Preconditioner | null): Scalar {
  return tf.tidy(() => {
    let total: Tensor = tf.scalar(0);
    grads.forEach((g, i) => {
      if (g == null) return;
      const sq = tf.square(g);
      const a = preconditioner?.[i];
      total = tf.add(total, tf.sum(a != null ? tf.mul(a, sq) : sq));
    });
    return total as Scalar;
  });
}

export function checkObjective(name: string): ObjectiveName {
  if (!(OBJECTIVES as readonly string[]).includes(name)) {
    throw new Error(`tfjs-teleport: unknown objective '${name}'. Choose one of: ${OBJECTIVES.join(', ')} (with direction: 'maximize' | 'minimize')`);
  }
  return name as ObjectiveName;
}
