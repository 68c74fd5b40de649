import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { lowRankBasis, lowRankProducts, type LowRankProducts } from './gl_lowrank.js';
import { topRowSpace } from './gl_data_basis.js';

/** Extra probe columns beyond the rank (randomized range finding: a few more than r catch its span). */
const OVERSAMPLE = 10;

/**
 * The rank-r element of one gl-data site and the choice of its basis. Until {@link choose} it is the
 * row-side element g = I + U·Vᵀ with a random V. A solver may sketch the dense objective's gradient
 * M = ∂F/∂g at g = I first: at a {@link probe} θ (h×p, a random p-column basis V₀, row side) the
 * gradient in θ is M·V₀, whose top-r left singular vectors span M's main column space (M has about as
 * many significant singular values as the batch has rows, so r + 10 random columns find them). `choose`
 * then switches to the column-side element g = I + V·Uᵀ with that V, whose gradient Mᵀ·V keeps most of
 * ‖M‖² (measured: bench/gldata_basis.ts) where a random basis keeps about r/h of it.
 */
export class SketchedLowRank {
  private readonly probes = new WeakSet<Tensor>();
  private probeBasis: Tensor2D | null = null;
  private basis: Tensor2D;
  private side: 'row' | 'col' = 'row';
  private chosen = false;

  constructor(
    private readonly h: number,
    private readonly r: number,
    private readonly keys: readonly number[],
  ) {
    this.basis = lowRankBasis(h, r, keys);
  }

  /** A zero θ (h×p, owned by the caller) at which `act` uses the probe basis: the sketch point. */
  probe(): Tensor {
    const p = Math.min(this.h, this.r + OVERSAMPLE);
    this.probeBasis ??= lowRankBasis(this.h, p, [...this.keys, 1]);
    const t = tf.zeros([this.h, p]);
    this.probes.add(t);
    return t;
  }

  /**
   * Picks the basis from the objective's gradient at the probe θ (M·V₀, h×p). Only the first call
   * counts, so θs already handed out keep their meaning; a zero gradient keeps the random basis.
   */
  choose(gradientAtProbe: Tensor): void {
    if (this.chosen) return;
    this.chosen = true;
    const yT = tf.transpose(gradientAtProbe);
    const cols = topRowSpace(yT, this.r);
    yT.dispose();
    if (cols.length === 0) return;
    const basis = lowRankBasis(this.h, this.r, this.keys, cols); // completed with random directions if short
    this.basis.dispose();
    this.basis = basis;
    this.side = 'col';
  }

  /** m·g and g⁻¹·m for θ (the probe's element for a probe θ). */
  products(theta: Tensor): LowRankProducts {
    if (this.probes.has(theta)) return lowRankProducts(theta, this.probeBasis!, 'row');
    return lowRankProducts(theta, this.basis, this.side);
  }

  dispose(): void {
    tf.dispose([this.basis, ...(this.probeBasis != null ? [this.probeBasis] : [])]);
  }
}
