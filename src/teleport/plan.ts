import type { Tensor } from '@tensorflow/tfjs-core';
import type { ModelStructure, Site } from '../structure/read_model.js';
import type { SiteAction } from '../groups/types.js';
import { getGroup, groupNames, groupsApplyingTo, type GroupBuildContext, type GroupEntry } from '../groups/registry.js';
import { UnsupportedLayerError } from '../core/errors.js';
import { warn } from '../core/warn.js';

/** Group names a model-based teleport understands (the registered groups). */
export const MODEL_GROUPS: readonly string[] = groupNames();

/** A plan: which sites a group acts on, and whether it needs a teleport batch to build its actions. */
export interface TeleportPlan {
  group: string;
  entry: GroupEntry;
  sites: Site[];
  /** Data-dependent groups build their actions per batch. */
  dataDependent: boolean;
  /** Sites left out, with reasons (unsupported pairs, and pairs the group does not apply to with 'skip'). */
  skipped: string[];
  /** Builds the site actions, in the order they must be applied (top site first). */
  build(params: readonly Tensor[], x?: Tensor | Tensor[]): SiteAction[];
}

/**
 * Places a group on a model's layer pairs. With `onUnsupported: 'error'` (the default) a pair the
 * group cannot act on is an error that names the pair and the groups that would apply there; with
 * 'skip' the pair is left out with a warning. Pairs no group can act on (frozen, regularized,
 * unsupported layers between) are always left out with a warning; a model with none left is an error.
 * `settings` (e.g. `glDataRank`) are passed to the group's build.
 */
export function planTeleport(
  structure: ModelStructure,
  group: string,
  onUnsupported: 'error' | 'skip' = 'error',
  settings: NonNullable<GroupBuildContext['options']> = {},
): TeleportPlan {
  const entry = getGroup(group);
  const sites: Site[] = [];
  const skipped: string[] = [...structure.unsupported];
  for (const site of structure.sites) {
    if (entry.appliesTo(site)) {
      sites.push(site);
      continue;
    }
    const options = groupsApplyingTo(site);
    const msg = `${site.where}: group '${group}' does not apply here; ${options.length ? `groups that apply: ${options.join(', ')}` : 'no implemented group applies (the activation is neither positively homogeneous nor bijective)'}`;
    if (onUnsupported === 'error') throw new UnsupportedLayerError(`${msg}. Pass onUnsupported: 'skip' to leave this pair out.`);
    skipped.push(msg);
  }
  if (sites.length === 0) {
    const why = skipped.length ? `: ${skipped.join('; ')}` : ' (it needs at least two Dense/Conv2D layers in a chain)';
    throw new UnsupportedLayerError(`group '${group}' has no layer pair to act on in model '${structure.modelName}'${why}`);
  }
  for (const s of skipped) warn(`tfjs-teleport: skipping ${s}`);
  const ordered = [...sites].sort((a, b) => b.inLayer - a.inLayer); // top site first
  return {
    group,
    entry,
    sites: ordered,
    dataDependent: entry.exactness === 'batch',
    skipped,
    build: (params, x) => entry.build(ordered, { structure, params, x, options: settings }),
  };
}
