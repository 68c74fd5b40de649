import type { Variable } from '@tensorflow/tfjs-core';
import { type ActivationSpec, describeActivations, isBijective, isPositivelyHomogeneous } from './activations.js';
import type { AnyLayer, ChainLayer } from './layers.js';

/**
 * Hidden units (or channels) between two parametrized layers: the place where a group element acts.
 * Row-major convention: the first layer's kernel columns (last axis) and bias, and the second
 * layer's kernel rows (input axis; for conv → flatten → dense, every `channelStride`-th row).
 *
 * Two shapes of site involve normalization layers:
 * - kind 'norm': a Dense/Conv2D layer feeding a BatchNormalization or LayerNormalization (through
 *   positively homogeneous layers). Only the first layer moves (its kernel and bias scale by λ > 0);
 *   the normalization divides the scale out. `outKernel` is null and `normalization` says which
 *   layer, and for BatchNormalization, the moving statistics that move with it (mean × λ, variance × λ²).
 * - `normFirst`: a normalization layer's γ and β play the first layer's kernel and bias (a per-channel
 *   rescale pair with the next Dense/Conv2D layer).
 */
export interface Site {
  kind: 'dense-dense' | 'conv-conv' | 'conv-dense' | 'norm';
  where: string;
  /** Number of hidden units / channels h; 1 for the one-scalar scale before a LayerNormalization. */
  width: number;
  inKernel: number;
  inBias: number | null;
  /** The second layer's kernel; null for kind 'norm' (the normalization absorbs the scale). */
  outKernel: number | null;
  /** Layer indices (into the structure's layer list) of the two layers. */
  inLayer: number;
  outLayer: number;
  /** Activations between them (the first layer's own, then standalone activation layers). */
  activations: ActivationSpec[];
  /** Class names of shape or pooling layers passed through. */
  through: string[];
  /** conv → dense through flatten: rows r of the dense kernel with r % channelStride === c belong to channel c. */
  channelStride: number;
  /** σ(λz) = λσ(z) for every activation on the way, and only positive-scaling-commuting layers between. */
  positivelyHomogeneous: boolean;
  /** Nothing nonlinear between: GL acts exactly for every input. */
  linear: boolean;
  /** One bijective activation and nothing else (dense-dense): data-dependent GL can act. */
  bijective: ActivationSpec | null;
  /** The first layer is a normalization layer (its γ, β are `inKernel`, `inBias`). */
  normFirst?: boolean;
  /** Kind 'norm': the normalization layer that absorbs the scale. */
  normalization?: { layer: string; kind: 'batch' | 'layer'; movingMean: Variable | null; movingVariance: Variable | null; epsilon: number };
}

const PARAMETRIZED = new Set(['dense', 'conv2d', 'batchNorm', 'layerNorm']);
/** Layers a per-channel positive scale passes through unchanged in meaning (channel c stays channel c, scaled). */
const PASS_THROUGH = new Set(['activation', 'dropout', 'maxPool', 'avgPool', 'flatten', 'globalAvgPool', 'globalMaxPool']);

/** Per layer, the layers that read its output (a layer read twice by one merge counts twice). */
export function consumersOf(layers: readonly ChainLayer[]): number[][] {
  const out: number[][] = layers.map(() => []);
  layers.forEach((l, i) => {
    for (const j of l.inputs) if (j >= 0) out[j].push(i);
  });
  return out;
}

/**
 * The sites of a model graph. From each parametrized layer, the path of its units is followed through
 * element-wise and pooling layers to the next parametrized layer; units that feed a merge, a second
 * consumer or a model output are not moved (no group here acts on every consumer consistently).
 */
export function findSites(layers: readonly ChainLayer[], raw: readonly AnyLayer[], outputs: readonly number[]): { sites: Site[]; unsupported: string[] } {
  const sites: Site[] = [];
  const unsupported: string[] = [];
  const consumers = consumersOf(layers);
  const isOutput = new Set(outputs);
  for (let a = 0; a < layers.length; a++) {
    if (!PARAMETRIZED.has(layers[a].kind)) continue;
    const path: number[] = [];
    let cur = a;
    let b = -1;
    let stop: string | null = null;
    for (;;) {
      if (isOutput.has(cur)) break;
      const next = consumers[cur];
      if (next.length !== 1) {
        if (next.length > 1)
          stop = `its units feed ${next.length} consumers (${[...new Set(next.map(i => layers[i].name))].join(', ')}); a group would have to act on each of them`;
        break;
      }
      const n = layers[next[0]];
      if (PARAMETRIZED.has(n.kind)) {
        b = next[0];
        break;
      }
      if (!PASS_THROUGH.has(n.kind)) {
        stop =
          n.kind === 'merge'
            ? `its units feed the merge '${n.name}' (${n.className}), whose other inputs the group does not scale`
            : `its units pass through '${n.name}' (${n.className}), which mixes units`;
        break;
      }
      path.push(next[0]);
      cur = next[0];
    }
    if (b < 0) {
      if (stop != null) unsupported.push(`${layers[a].name}: not moved: ${stop}`);
      continue;
    }
    const site = describeSite(layers, raw, a, b, path);
    if (typeof site === 'string') unsupported.push(site);
    else sites.push(site);
  }
  return { sites, unsupported };
}

function describeSite(layers: readonly ChainLayer[], raw: readonly AnyLayer[], a: number, b: number, path: number[]): Site | string {
  const first = layers[a];
  const second = layers[b];
  const label = `${first.name} → ${second.name}`;
  const firstNorm = first.kind === 'batchNorm' || first.kind === 'layerNorm';
  const secondNorm = second.kind === 'batchNorm' || second.kind === 'layerNorm';
  if (firstNorm && secondNorm) return `${label}: no symmetry is implemented between two normalization layers`;
  // A 'norm' site moves only the first layer; other sites also the second layer's kernel.
  if (first.kernel == null || !raw[a].trainable || (!secondNorm && (second.kernel == null || !raw[b].trainable))) {
    return `${label}: a layer is frozen (trainable = false)${firstNorm && first.kernel == null && raw[a].trainable ? ` or ${first.name} has no scale γ (scale: false)` : ''}; teleports only move trainable weights`;
  }
  // A weight penalty is not invariant under the group: the training loss would change.
  const penalized = [
    raw[a].kernelRegularizer != null ? `${first.name}'s kernelRegularizer` : null,
    raw[a].biasRegularizer != null && first.bias != null ? `${first.name}'s biasRegularizer` : null,
    raw[a].gammaRegularizer != null ? `${first.name}'s gammaRegularizer` : null,
    raw[a].betaRegularizer != null && first.bias != null ? `${first.name}'s betaRegularizer` : null,
    !secondNorm && raw[b].kernelRegularizer != null ? `${second.name}'s kernelRegularizer` : null,
    first.activityRegularized ? `${first.name}'s activityRegularizer` : null,
  ].filter((x): x is string => x != null);
  if (penalized.length) {
    return `${label}: ${penalized.join(' and ')} penalize the weights the group moves, so the training loss is not invariant (remove the regularizer there to teleport this pair)`;
  }
  const activations: ActivationSpec[] = [first.activation ?? { kind: 'linear' }];
  const through: string[] = [];
  let flattened = false;
  for (const k of path) {
    const l = layers[k];
    if (l.kind === 'activation') activations.push(l.activation!);
    else {
      through.push(l.className);
      if (l.kind === 'flatten' || l.kind === 'globalAvgPool' || l.kind === 'globalMaxPool') flattened = true;
    }
  }
  const homogeneous = activations.every(isPositivelyHomogeneous);
  const width = first.units!;
  const unitWord = first.kind === 'conv2d' || first.outRank === 4 ? 'channels' : 'units';
  const between = `${describeActivations(activations)}${through.length ? `, through ${through.join(', ')}` : ''}`;
  const base = { inKernel: first.kernel, inBias: first.bias ?? null, inLayer: a, outLayer: b, activations, through };

  if (secondNorm) {
    if (!homogeneous) return `${label}: the activations between (${between}) are not positively homogeneous, so a scale does not pass to ${second.className}`;
    const batch = second.kind === 'batchNorm';
    // BatchNormalization is per channel: a flatten would spread a channel over many normalized features.
    if (batch && through.includes('Flatten') && first.outRank === 4)
      return `${label}: a Flatten between Conv2D and BatchNormalization mixes channels into features`;
    return {
      ...base,
      kind: 'norm',
      where: batch
        ? `${label} (${width} ${unitWord}, ${between}; moving statistics move with the scale)`
        : `${label} (one scale for all ${width} ${unitWord}, ${between})`,
      width: batch ? width : 1,
      outKernel: null,
      channelStride: 1,
      positivelyHomogeneous: true,
      linear: false,
      bijective: null,
      normalization: {
        layer: second.name,
        kind: batch ? 'batch' : 'layer',
        movingMean: second.movingMean ?? null,
        movingVariance: second.movingVariance ?? null,
        epsilon: second.epsilon ?? 1e-3,
      },
    };
  }

  const spatial = first.kind === 'conv2d' || (firstNorm && first.outRank === 4);
  const kind =
    !spatial && second.kind === 'dense'
      ? 'dense-dense'
      : spatial && second.kind === 'conv2d'
        ? 'conv-conv'
        : spatial && second.kind === 'dense' && flattened
          ? 'conv-dense'
          : null;
  if (kind == null) return `${label}: no symmetry is implemented between ${first.className} and ${second.className}${flattened ? '' : ' without a Flatten'}`;
  if (firstNorm) {
    if (first.kind === 'layerNorm' && first.normAxes!.join() !== String(first.outRank - 1)) {
      return `${label}: LayerNormalization '${first.name}' normalizes over axes [${first.normAxes!.join(', ')}]; its γ is per channel only when it normalizes the last axis alone`;
    }
    if (!homogeneous)
      return `${label}: the activations between (${between}) are not positively homogeneous, so ${first.name}'s γ cannot be rescaled against ${second.name}`;
  }
  const nonlinear = activations.filter(x => x.kind !== 'linear');
  const onlyActivations = !firstNorm && through.every(c => c === 'Flatten') && kind === 'dense-dense';
  const linear = nonlinear.length === 0 && onlyActivations;
  const bijective =
    onlyActivations && nonlinear.length <= 1 && (nonlinear.length === 0 || isBijective(nonlinear[0])) ? (nonlinear[0] ?? { kind: 'linear' }) : null;
  return {
    ...base,
    kind,
    where: `${label} (${width} ${unitWord}, ${between})`,
    width,
    outKernel: second.kernel!,
    channelStride: kind === 'conv-dense' ? width : 1,
    positivelyHomogeneous: homogeneous,
    linear,
    bijective,
    ...(firstNorm ? { normFirst: true } : {}),
  };
}

/** A site between two parametrized layers (every kind but 'norm'): both kernels move. */
export type PairSite = Site & { kind: 'dense-dense' | 'conv-conv' | 'conv-dense'; outKernel: number };

/** Narrows a site to a {@link PairSite}; a 'norm' site is an error naming the action that tried. */
export function pairSite(site: Site, action: string): PairSite {
  if (site.kind === 'norm' || site.outKernel == null) {
    throw new Error(`tfjs-teleport: ${action} acts between two Dense/Conv2D layers; ${site.where} ends in a normalization layer (use 'rescale' or 'auto')`);
  }
  return site as PairSite;
}

/** Parameter indices a site's actions may change. */
export function siteParams(site: Site): number[] {
  return [site.inKernel, ...(site.inBias != null ? [site.inBias] : []), ...(site.outKernel != null ? [site.outKernel] : [])];
}
