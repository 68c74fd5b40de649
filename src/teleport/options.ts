import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SiteAction } from '../groups/types.js';
import { checkObjective, type ObjectiveName } from '../objectives/grad_norm.js';
import type { LossFunction } from '../structure/losses.js';
import type { TeleportSettings } from './engine.js';

/** A teleport batch: inputs and targets, shaped as for model.fit. */
export interface Batch {
  x: Tensor;
  y: Tensor;
}

/** Teleport data: one batch, several (teleported on one after another), or a function of the step. */
export type TeleportData = Batch | Batch[] | ((step: number) => Batch | Batch[]);

/**
 * The group to teleport with: a name for model-based groups, or site actions built by hand
 * (e.g. `tp.groups.so2(bijection)` on a plain parameter vector).
 */
export type GroupOption = 'auto' | 'rescale' | 'gl' | 'gl-data' | 'gl-pinv' | SiteAction | SiteAction[];

/** Options shared by {@link teleport} and the teleporting optimizers. */
export interface TeleportOptions {
  /** The tfjs-layers model whose layer pairs the group acts on. Needed for named groups. */
  model?: LayersModel;
  /** Default 'auto': GL where the activation between two Dense layers is linear, rescale elsewhere. */
  group?: GroupOption;
  /** Default 'gradNorm'. 'preconditionedGradNorm' weights by the inner optimizer's preconditioner. */
  objective?: ObjectiveName;
  /** Default 'maximize' (faster training); 'minimize' moves to flatter points of the orbit. */
  direction?: 'maximize' | 'minimize';
  /** Ascent steps on the group element. Default 10. */
  steps?: number;
  /** Step size of the ascent. Default 0.1 (with `normalize`), i.e. a distance in group-parameter space. */
  lr?: number;
  /** Normalized gradient steps (default true); false gives plain gradient ascent as in the dissertation. */
  normalize?: boolean;
  /** Halve steps that do not improve the objective. Default false. */
  lineSearch?: boolean;
  /**
   * Cap on objectiveAfter / objectiveBefore when maximizing (for one teleport event, shared by its
   * batches). Default 2: a larger gradient needs a learning rate that can take it.
   */
  maxGrowth?: number;
  /** Halvings per ascent step before stopping early. Default 4. */
  maxBacktracks?: number;
  /** Largest relative loss change on the teleport batch a teleport may cause. Default 1e-4. */
  maxLossDrift?: number;
  /** Halvings of the group element tried before a drifting teleport is rejected. Default 3. */
  maxShrinks?: number;
  /** Teleport batches. Required by data-dependent groups; used by exact groups to measure drift. */
  data?: TeleportData;
  /** Loss for model-based teleports; default: the loss given to model.compile. */
  loss?: string | LossFunction;
  /** Loss of a plain parameter list (no model): `(params) => Scalar`. */
  lossOfParams?: (params: Tensor[]) => Scalar;
  /** 'error' (default) or 'skip' layer pairs the group cannot act on. */
  onUnsupported?: 'error' | 'skip';
  /** Seed for random group initializations (SO(2) angles) and data choice. Default 0. */
  seed?: number;
}

export const DEFAULTS = {
  group: 'auto' as const,
  objective: 'gradNorm' as const,
  direction: 'maximize' as const,
  steps: 10,
  lr: 0.1,
  normalize: true,
  lineSearch: false,
  maxGrowth: 2,
  maxBacktracks: 4,
  maxLossDrift: 1e-4,
  maxShrinks: 3,
  onUnsupported: 'error' as const,
  seed: 0,
};

function positiveNumber(name: string, v: unknown, integer = false, allowZero = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (allowZero ? v >= 0 : v > 0) && (!integer || Number.isInteger(v));
  if (!ok) throw new Error(`tfjs-teleport: option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'finite number'}, got ${JSON.stringify(v)}`);
  return v as number;
}

/** Validates options and fills defaults; bad values throw errors that say what to pass instead. */
export function resolveSettings(o: TeleportOptions): TeleportSettings {
  const direction = o.direction ?? DEFAULTS.direction;
  if (direction !== 'maximize' && direction !== 'minimize') {
    throw new Error(`tfjs-teleport: option direction must be 'maximize' or 'minimize', got ${JSON.stringify(direction)}`);
  }
  const maxGrowth = positiveNumber('maxGrowth', o.maxGrowth ?? DEFAULTS.maxGrowth);
  if (maxGrowth < 1) throw new Error(`tfjs-teleport: option maxGrowth must be ≥ 1 (a ratio of squared gradient norms), got ${maxGrowth}`);
  return {
    objective: checkObjective(o.objective ?? DEFAULTS.objective),
    direction,
    steps: positiveNumber('steps', o.steps ?? DEFAULTS.steps, true, true),
    lr: positiveNumber('lr', o.lr ?? DEFAULTS.lr),
    normalize: o.normalize ?? DEFAULTS.normalize,
    lineSearch: o.lineSearch ?? DEFAULTS.lineSearch,
    maxGrowth,
    maxBacktracks: positiveNumber('maxBacktracks', o.maxBacktracks ?? DEFAULTS.maxBacktracks, true, true),
    maxLossDrift: positiveNumber('maxLossDrift', o.maxLossDrift ?? DEFAULTS.maxLossDrift),
    maxShrinks: positiveNumber('maxShrinks', o.maxShrinks ?? DEFAULTS.maxShrinks, true, true),
  };
}

/** Normalizes `data` at a step to a list of batches. */
export function batchesAt(data: TeleportData | undefined, step: number): Batch[] {
  if (data == null) return [];
  const d = typeof data === 'function' ? data(step) : data;
  const list = Array.isArray(d) ? d : [d];
  for (const b of list) {
    if (b == null || b.x == null || b.y == null) throw new Error('tfjs-teleport: teleport data must be {x, y} batches (or an array of them, or a function of the step returning them)');
  }
  return list;
}
