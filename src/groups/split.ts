import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { pairSite, type Site } from '../structure/sites.js';
import { UnsupportedLayerError } from '../core/errors.js';
import type { SiteAction, SlotKind } from './types.js';

/**
 * Groups of duplicated units at a Dense → Dense site: units whose incoming weights and bias agree
 * entrywise within `tolerance · max(1, largest |weight|)`. Only groups of two or more are returned.
 */
export function duplicatedUnits(kernel: Tensor, bias: Tensor | null, tolerance = 1e-6): number[][] {
  const k = kernel.arraySync() as number[][];
  const b = bias != null ? (bias.arraySync() as number[]) : null;
  const width = k[0]?.length ?? 0;
  const column = (j: number) => [...k.map(row => row[j]), ...(b != null ? [b[j]] : [])];
  const groups: Array<{ u: number[]; members: number[] }> = [];
  for (let j = 0; j < width; j++) {
    const u = column(j);
    const scale = Math.max(1, ...u.map(Math.abs));
    const g = groups.find(c => c.u.every((x, i) => Math.abs(x - u[i]) <= tolerance * scale));
    if (g != null) g.members.push(j);
    else groups.push({ u, members: [j] });
  }
  return groups.filter(g => g.members.length > 1).map(g => g.members);
}

/**
 * The split symmetry at one Dense → Dense site whose first layer has duplicated units (after
 * `split`): copies compute the same activation, so only the sum of their outgoing weights matters
 * and any redistribution of it among the copies keeps the function, for every input and activation.
 * The element is W₂ ← M·W₂ with M = I + Θ, Θ = P·(mask ∘ θ): θ ∈ R^{h×h} restricted to pairs of units
 * in the same group, and P subtracts each group's column mean, so every column of Θ sums to 0 over a
 * group (the sums of outgoing weights are kept) and θ = 0 is the identity.
 *
 * Exact everywhere; the gradient moves in closed form (copy i's incoming gradient is linear in its
 * outgoing weights): ∂L/∂W₁ ← ∂L/∂W₁·Mᵀ, ∂L/∂b₁ ← ∂L/∂b₁·Mᵀ, ∂L/∂W₂ unchanged.
 */
export function splitAction(anySite: Site, groups: readonly number[][]): SiteAction {
  const site = pairSite(anySite, 'split');
  if (site.kind !== 'dense-dense') throw new UnsupportedLayerError(`the split group acts between Dense layers; ${site.where} is ${site.kind}`);
  const h = site.width;
  const mask = new Float32Array(h * h);
  const mean = new Float32Array(h * h);
  for (const g of groups) {
    for (const i of g) {
      for (const j of g) {
        mask[i * h + j] = 1;
        mean[i * h + j] = 1 / g.length;
      }
    }
  }
  const touches = [site.inKernel, ...(site.inBias != null ? [site.inBias] : []), site.outKernel];
  // Θ(θ) = (I − C)·(mask ∘ θ), C the within-group averaging matrix.
  const theta0 = (theta: Tensor) =>
    tf.tidy(() => {
      const masked = tf.mul(theta, tf.tensor2d(mask, [h, h]));
      return tf.sub(masked, tf.matMul(tf.tensor2d(mean, [h, h]), masked));
    });
  const mOf = (theta: Tensor) => tf.add(tf.eye(h), theta0(theta));
  const moveIncoming = (list: ReadonlyArray<Tensor | null>, m: Tensor): Array<Tensor | null> => {
    const out = list.slice();
    const k = list[site.inKernel];
    if (k != null) out[site.inKernel] = tf.matMul(k, m, false, true);
    if (site.inBias != null && list[site.inBias] != null) out[site.inBias] = tf.reshape(tf.matMul(tf.reshape(list[site.inBias]!, [1, h]), m, false, true), [h]);
    return out;
  };
  const moveOutgoing = (list: ReadonlyArray<Tensor | null>, m: Tensor): Array<Tensor | null> => {
    const out = list.slice();
    const o = list[site.outKernel];
    if (o != null) out[site.outKernel] = tf.matMul(m, o);
    return out;
  };
  return {
    group: 'split',
    where: `${site.where}; copies ${groups.map(g => `{${g.join(', ')}}`).join(' ')}`,
    exactness: 'everywhere',
    touches,
    // At an even split θ = 0 is a stationary point of ‖∇L‖² on the orbit (its minimum: the copies'
    // incoming gradients are equal and Σ (1 + rᵢ)² with Σ rᵢ = 0 is smallest at r = 0), so an ascent
    // from the identity cannot move: start from a small random element too (the solver keeps the
    // better of the two starts).
    init: random =>
      tf.mul(
        tf.tensor2d(
          Float32Array.from({ length: h * h }, () => random() - 0.5),
          [h, h],
        ),
        0.2,
      ),
    randomInit: true,
    act: (params, theta) => moveOutgoing(params, mOf(theta)) as Tensor[],
    transportGradient: (grads, theta) => moveIncoming(grads, mOf(theta)) as Tensor[],
    algebra: (v, m) => {
      const out: Array<Tensor | null> = v.map(() => null);
      for (const i of touches) if (v[i] != null) out[i] = i === site.outKernel ? tf.matMul(theta0(m), v[i]!) : tf.zerosLike(v[i]!);
      return out;
    },
    // First moments move like gradients; updates (tangent vectors) like the weights; second moments
    // are not carried exactly by a non-diagonal M.
    transportSlots: (kind: SlotKind, slots, theta) => {
      if (kind === 'gradient') return moveIncoming(slots, mOf(theta));
      if (kind === 'update') return moveOutgoing(slots, mOf(theta));
      return undefined;
    },
  };
}
