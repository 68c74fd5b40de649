import type { Tensor } from '@tensorflow/tfjs-core';
import type { ModelStructure, Site } from '../structure/read_model.js';
import { siteParams } from '../structure/sites.js';
import { badOption, NoOrbitError } from '../core/errors.js';
import { glAction } from './gl.js';
import { glDataActions } from './gl_data.js';
import { normScaleAction } from './norm_scale.js';
import { nullspaceActions } from './nullspace.js';
import { rescaleAction } from './rescale.js';
import { duplicatedUnits, splitAction } from './split.js';
import type { Exactness, SiteAction } from './types.js';

/** What a group needs to build its actions on a model. Tensors are borrowed. */
export interface GroupBuildContext {
  structure: ModelStructure;
  /** Current parameter values (data-dependent groups take their constants here). */
  params: readonly Tensor[];
  /** The teleport batch's inputs, for data-dependent groups. */
  x?: Tensor | Tensor[];
  /** Group settings from the teleport options (`glDataRank`: gl-data's element, a rank or 'dense'). */
  options?: { glDataRank?: number | 'dense' };
}

/**
 * A symmetry group that acts on a model's layer pairs ("sites"), as one table entry.
 *
 * Groups keep parameter shapes. A group that changes them (the neuron-split group adds units) does
 * not resize anything here: resizing a model's variables lives in `src/surgery/` (a new model, as
 * `split` returns) and resizing the inner optimizer's slots in `src/optimizers/inner_state.ts`
 * (the only module that knows slot layouts); such a group acts on the already-split model.
 */
export interface GroupEntry {
  /** The name users pass as `group`. */
  readonly name: string;
  /** 'everywhere': outputs unchanged for every input; 'batch': loss unchanged on the teleport batch. */
  readonly exactness: Exactness;
  /** One line for errors and docs: what it is and where it applies. */
  readonly description: string;
  /** Whether it can act at this site. */
  appliesTo(site: Site): boolean;
  /**
   * False for groups that act only on models in a special state (the split group needs duplicated
   * units): they are not offered as alternatives in "group X does not apply here" errors.
   */
  readonly suggested?: boolean;
  /**
   * Parameter indices the group's actions at a site may change or measure (default: the site's two
   * kernels and first bias); the optimizer reads its preconditioner there.
   */
  paramsOf?(site: Site, structure: ModelStructure): number[];
  /** Builds one action per site (sites come top site first; actions are applied in that order). */
  build(sites: readonly Site[], ctx: GroupBuildContext): SiteAction[];
}

const GROUP_TABLE = new Map<string, GroupEntry>();

/** The rescale action of a site: between two layers, or the one-sided scale before a normalization layer. */
function rescaleOf(site: Site): SiteAction {
  return site.kind === 'norm' ? normScaleAction(site) : rescaleAction(site);
}

/** Registers a model group under its name. */
export function registerGroup(entry: GroupEntry): void {
  GROUP_TABLE.set(entry.name, entry);
}

registerGroup({
  name: 'auto',
  exactness: 'everywhere',
  description: "the exact group of each pair: 'gl' where the activation is linear, 'rescale' elsewhere (and before normalization layers)",
  appliesTo: site => site.linear || site.positivelyHomogeneous,
  build: sites => sites.map(site => (site.linear ? glAction(site) : rescaleOf(site))),
});

registerGroup({
  name: 'rescale',
  exactness: 'everywhere',
  description:
    'positive per-unit rescaling (relu, leakyRelu, linear; Dense and Conv2D, through pooling and flatten; the scale before BatchNormalization/LayerNormalization; γ, β of a normalization layer against the next layer)',
  appliesTo: site => site.positivelyHomogeneous,
  build: sites => sites.map(rescaleOf),
});
registerGroup({
  name: 'gl',
  exactness: 'everywhere',
  description: 'GL(h) between Dense layers with a linear activation',
  appliesTo: site => site.linear,
  build: sites => sites.map(glAction),
});
for (const variant of ['gl-data', 'gl-pinv'] as const) {
  registerGroup({
    name: variant,
    exactness: 'batch',
    description: `data-dependent GL(h) (${variant === 'gl-data' ? 'eq. 4.13' : 'eq. 4.16'}) between Dense layers with one bijective activation (linear, leakyRelu)`,
    appliesTo: site => site.kind === 'dense-dense' && site.bijective != null,
    build: (sites, ctx) => {
      if (ctx.x == null) throw badOption(`group '${variant}' is data-dependent: give teleport batches with the \`data\` option`);
      return glDataActions(ctx.structure, sites, ctx.params, ctx.x, variant, variant === 'gl-data' ? { rank: ctx.options?.glDataRank } : {});
    },
  });
}
registerGroup({
  name: 'nullspace',
  exactness: 'batch',
  description:
    'moves the second layer of a Dense/Conv2D pair within the null space of its input on the teleport batch (Dense: the batch rows; Conv2D: the im2col patches, often empty for early layers), any activation; exact on the rows it is built from (by default the first three quarters of the batch: the rest guards the change off the batch, maxHeldOutChange)',
  appliesTo: site => site.kind !== 'norm' && site.normFirst !== true && site.outKernel != null,
  paramsOf: (site, structure) => {
    const bias = structure.layers[site.outLayer].bias;
    return [...siteParams(site), ...(bias != null ? [bias] : [])];
  },
  build: (sites, ctx) => {
    if (ctx.x == null) throw badOption("group 'nullspace' is data-dependent: give teleport batches with the `data` option");
    return nullspaceActions(ctx.structure, sites, ctx.params, ctx.x);
  },
});
registerGroup({
  name: 'split',
  exactness: 'everywhere',
  description: 'redistributing the outgoing weights among duplicated units (as split() from tfjs-teleport/surgery makes them), Dense → Dense, any activation',
  appliesTo: site => site.kind === 'dense-dense' && site.normFirst !== true,
  suggested: false,
  build: (sites, ctx) => {
    const actions = sites.flatMap(site => {
      const groups = duplicatedUnits(ctx.params[site.inKernel], site.inBias != null ? ctx.params[site.inBias] : null);
      return groups.length ? [splitAction(site, groups)] : [];
    });
    if (actions.length === 0) {
      throw new NoOrbitError(
        `group 'split' found no duplicated units (same incoming weights and bias) in model '${ctx.structure.modelName}': make copies with split(model, { layer, neurons }) from 'tfjs-teleport/surgery' first`,
      );
    }
    return actions;
  },
});
/** Names of the registered model groups. */
export function groupNames(): string[] {
  return [...GROUP_TABLE.keys()];
}

/** The group called `name`; an unknown name is an error listing the choices. */
export function getGroup(name: string): GroupEntry {
  const g = GROUP_TABLE.get(name);
  if (g == null)
    throw badOption(`unknown group '${name}'. Choose one of: ${groupNames().join(', ')}, or pass site actions such as so2(...) from 'tfjs-teleport/groups'`);
  return g;
}

/** The registered groups (other than 'auto') that can act at a site, for error messages. */
export function groupsApplyingTo(site: Site): string[] {
  return groupNames().filter(n => n !== 'auto' && GROUP_TABLE.get(n)!.suggested !== false && GROUP_TABLE.get(n)!.appliesTo(site));
}
