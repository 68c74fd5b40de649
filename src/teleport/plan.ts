import type { Tensor } from '@tensorflow/tfjs-core';
import type { ModelStructure, Site } from '../structure/read_model.js';
import type { SiteAction } from '../groups/types.js';
import { rescaleAction } from '../groups/rescale.js';
import { glAction } from '../groups/gl.js';
import { glDataActions } from '../groups/gl_data.js';
import { warn } from '../util/warn.js';

/** Group names a model-based teleport understands. */
export const MODEL_GROUPS = ['auto', 'rescale', 'gl', 'gl-data', 'gl-pinv'] as const;
export type ModelGroupName = (typeof MODEL_GROUPS)[number];

/** A plan: which sites a group acts on, and whether it needs a teleport batch to build its actions. */
export interface TeleportPlan {
  group: ModelGroupName;
  sites: Site[];
  /** Data-dependent groups build their actions per batch. */
  dataDependent: boolean;
  /** Sites left out, with reasons (only when unsupported layers are skipped). */
  skipped: string[];
  /** Builds the site actions, in the order they must be applied (top site first). */
  build(params: readonly Tensor[], x?: Tensor): SiteAction[];
}

function groupsThatApply(site: Site): string[] {
  const out: string[] = [];
  if (site.positivelyHomogeneous) out.push('rescale');
  if (site.linear) out.push('gl');
  if (site.kind === 'dense-dense' && site.bijective != null) out.push('gl-data', 'gl-pinv');
  return out;
}

function applies(group: ModelGroupName, site: Site): boolean {
  if (group === 'auto') return site.positivelyHomogeneous || site.linear;
  return groupsThatApply(site).includes(group);
}

/**
 * Places a group on a model's layer pairs. With `onUnsupported: 'error'` (the default) a pair the
 * group cannot act on is an error that names the pair and the groups that would apply there; with
 * 'skip' the pair is left out with a warning.
 */
export function planTeleport(structure: ModelStructure, group: string, onUnsupported: 'error' | 'skip' = 'error'): TeleportPlan {
  if (!(MODEL_GROUPS as readonly string[]).includes(group)) {
    throw new Error(`tfjs-teleport: unknown group '${group}'. Choose one of: ${MODEL_GROUPS.join(', ')}`);
  }
  const g = group as ModelGroupName;
  const sites: Site[] = [];
  const skipped: string[] = [...structure.unsupported];
  for (const site of structure.sites) {
    if (applies(g, site)) {
      sites.push(site);
      continue;
    }
    const options = groupsThatApply(site);
    const msg = `${site.where}: group '${g}' does not apply here; ${options.length ? `groups that apply: ${options.join(', ')}` : 'no implemented group applies (the activation is neither positively homogeneous nor bijective)'}`;
    if (onUnsupported === 'error') {
      const err = new Error(`tfjs-teleport: ${msg}. Pass onUnsupported: 'skip' to leave this pair out.`);
      err.name = 'UnsupportedLayerError';
      throw err;
    }
    skipped.push(msg);
  }
  if (onUnsupported === 'error' && structure.unsupported.length > 0 && sites.length === 0) {
    const err = new Error(`tfjs-teleport: no layer pair of model '${structure.modelName}' can be teleported: ${structure.unsupported.join('; ')}`);
    err.name = 'UnsupportedLayerError';
    throw err;
  }
  if (sites.length === 0) {
    const err = new Error(`tfjs-teleport: group '${g}' has no layer pair to act on in model '${structure.modelName}' (it needs at least two Dense/Conv2D layers in a chain)${skipped.length ? ': ' + skipped.join('; ') : ''}`);
    err.name = 'UnsupportedLayerError';
    throw err;
  }
  for (const s of skipped) warn(`tfjs-teleport: skipping ${s}`);
  const dataDependent = g === 'gl-data' || g === 'gl-pinv';
  const ordered = [...sites].sort((a, b) => b.inLayer - a.inLayer); // top site first
  return {
    group: g,
    sites: ordered,
    dataDependent,
    skipped,
    build: (params, x) => {
      if (dataDependent) {
        if (x == null) throw new Error(`tfjs-teleport: group '${g}' is data-dependent: give teleport batches with the \`data\` option`);
        return glDataActions(structure, ordered, params, x, g as 'gl-data' | 'gl-pinv');
      }
      return ordered.map(site => (g === 'gl' || (g === 'auto' && site.linear) ? glAction(site) : rescaleAction(site)));
    },
  };
}
