import type { Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from './types.js';

/** Applies every site action in order: the parameters moved by the group element θ (one θ per action). */
export function applyActions(actions: readonly SiteAction[], params: readonly Tensor[], thetas: readonly Tensor[]): Tensor[] {
  let out = params.slice();
  actions.forEach((a, i) => {
    out = a.act(out, thetas[i]);
  });
  return out;
}
