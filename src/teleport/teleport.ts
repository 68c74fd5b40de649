import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SeededRandom } from '../util/random.js';
import { Teleporter } from './teleporter.js';
import { badOption, TeleportError } from './errors.js';
import type { Batch, TeleportOptions } from './options.js';
import type { TeleportReport } from './report.js';

export { TeleportError, UnsupportedLayerError, type TeleportErrorKind, type RejectionKind } from './errors.js';

function isModel(t: unknown): t is LayersModel {
  return t != null && typeof (t as LayersModel).predict === 'function' && Array.isArray((t as LayersModel).layers);
}

/**
 * Teleports once, outside any optimizer.
 *
 * On a model: moves its weights along the group orbit to a point with a larger gradient norm on the
 * batch, keeping the training loss on that batch within `maxLossDrift`.
 * ```ts
 * const report = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 10, lr: 0.1 });
 * console.log(report.gradNormSqAfter / report.gradNormSqBefore);
 * ```
 * On a plain parameter list with a loss function (no model), with site actions as the group:
 * ```ts
 * const x = tf.variable(tf.tensor1d([-1, -1]));
 * await tp.teleport([x], ([p]) => tp.problems.rosenbrock.loss(p), { group: tp.groups.so2(tp.problems.rosenbrock.bijection) });
 * ```
 * Throws a {@link TeleportError} of kind 'not-finite' (weights untouched) when the loss is not finite
 * at the start or the search hits NaN/Inf. A result the guard refuses (drift, constraint, no
 * improvement) comes back as `accepted: false` with a `reason` and `rejection` kind, weights
 * untouched. Bad options, shapes and unsupported layers throw errors that name the fix.
 */
export async function teleport(model: LayersModel, batch: Batch, options?: TeleportOptions): Promise<TeleportReport>;
export async function teleport(params: Variable | Variable[], loss: (params: Tensor[]) => Scalar, options: TeleportOptions): Promise<TeleportReport>;
export async function teleport(
  target: LayersModel | Variable | Variable[],
  dataOrLoss: Batch | ((params: Tensor[]) => Scalar),
  options: TeleportOptions = {},
): Promise<TeleportReport> {
  let teleporter: Teleporter;
  let vars: Variable[];
  let batch: Batch | null = null;
  if (isModel(target)) {
    if (typeof dataOrLoss === 'function' || dataOrLoss == null) {
      throw badOption('teleport(model, batch, options) needs a batch {x, y} as its second argument');
    }
    batch = dataOrLoss;
    // The batch is the teleport data (objectives that need the loss check for it at construction).
    teleporter = new Teleporter({ data: batch, ...options, model: target }, 'teleport');
    vars = teleporter.variables();
  } else {
    if (typeof dataOrLoss !== 'function') {
      throw badOption('teleport(params, loss, options) needs a loss function (params) => Scalar as its second argument');
    }
    vars = Array.isArray(target) ? target : [target];
    teleporter = new Teleporter({ ...options, lossOfParams: dataOrLoss }, 'teleport');
  }
  const random = new SeededRandom(teleporter.options.seed).source;
  const loss = teleporter.lossOn(batch);
  if (batch) teleporter.validateBatch(batch);
  const lossBefore = loss ? tf.tidy(() => loss(vars).dataSync()[0]) : NaN;
  if (!Number.isFinite(lossBefore)) {
    throw new TeleportError(
      `the loss on the teleport batch is ${lossBefore} before teleporting; check the data and the weights for NaN/Inf (weights left untouched)`,
      'not-finite',
    );
  }
  // An exact group uses the gradient on the batch; the engine never sees fit's closure here.
  const grads = teleporter.transportable && loss ? tf.tidy(() => tf.grads((...ps: Tensor[]) => loss(ps))(vars)) : null;
  const { outcome, actions, ms } = teleporter.run(vars, { grads, batch, random });
  const report = teleporter.report(outcome, actions, { step: null, ms, growthCap: teleporter.settings.maxGrowth });
  tf.dispose([grads ?? [], outcome.thetas, outcome.grads ?? []]);
  actions.forEach(a => a.dispose?.());
  // Numerical failure is an error; a guard rejection is a normal outcome the report describes.
  if (report.rejection === 'not-finite') {
    throw new TeleportError(`teleport aborted: ${report.reason} (weights left untouched)`, 'not-finite', report);
  }
  return report;
}
