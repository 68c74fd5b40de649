import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SeededRandom } from '../core/random.js';
import { innerStepOf, slotPositions } from '../optimizers/inner_state.js';
import { Teleporter } from '../teleport/teleporter.js';
import { badOption, TeleportError } from '../core/errors.js';
import type { Batch, TeleportOptions } from '../teleport/options.js';
import type { TeleportReport } from '../core/report.js';
import { budgetOf, capFor, record, resetBudget, type OneOffBudget } from '../teleport/budget.js';

export { TeleportError, UnsupportedLayerError, type TeleportErrorKind, type RejectionKind } from '../core/errors.js';

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
 * await tp.teleport([x], ([p]) => problems.rosenbrock.loss(p), { group: so2(problems.rosenbrock.bijection) });
 * ```
 * For the loss after the next steps of the optimizer that trains next (`objective: 'lookahead'`), pass
 * that optimizer: its learning rate and state are read, never changed. Half of the batch is held out
 * to check the move with real steps; the report gives both measured decreases:
 * ```ts
 * const optimizer = tf.train.adam(0.01); // the one that will take the next steps
 * const r = await tp.teleport(model, { x, y }, { objective: 'lookahead', lookaheadSteps: 5, optimizer });
 * console.log(r.heldOutBefore, r.heldOutAfter); // 5-step loss decrease from w and from g·w
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
  // One budget for every one-off teleport of this model (or parameter list): they compound.
  const key: object = isModel(target) ? target : vars[0];
  const { maxGrowth, direction } = teleporter.settings;
  const maxTotalGrowth = teleporter.options.maxTotalGrowth ?? maxGrowth * maxGrowth;
  const growthCap = direction === 'maximize' ? capFor(key, maxGrowth, maxTotalGrowth) : maxGrowth;
  const next = teleporter.options.optimizer;
  if (teleporter.objective.needsInnerStep && next == null) {
    throw badOption(
      `objective '${teleporter.settings.objective}' looks ahead at the steps of the optimizer that trains next: pass it, e.g. tp.teleport(model, batch, { objective: '${teleporter.settings.objective}', optimizer })`,
    );
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
  if (direction === 'maximize' && growthCap < 1.01) {
    const spent = budgetOf(key);
    const skipped = teleporter.skippedReport(null, growthCap, { rejection: 'growth', maxTotalGrowth });
    skipped.reason = `this model's one-off teleports have grown the objective ${spent.growth.toPrecision(4)}× (${spent.teleports} teleports), its maxTotalGrowth is ${maxTotalGrowth}: skipped. Train between teleports and call tp.teleport.resetBudget(model), or pass a larger maxTotalGrowth`;
    return { ...skipped, budget: spent };
  }
  // An exact group uses the gradient on the batch; the engine never sees fit's closure here.
  const grads = teleporter.transportable && loss ? tf.tidy(() => tf.grads((...ps: Tensor[]) => loss(ps))(vars)) : null;
  // Its state is read where tfjs keeps it (by variable name), never changed.
  const innerStep = next != null && teleporter.objective.needsInnerStep ? innerStepOf(next, vars, slotPositions(next, vars)) : null;
  try {
    const { report } = teleporter.run(vars, {
      grads,
      batch,
      random,
      maxGrowth: growthCap,
      innerStep,
      step: null,
      failure: reason => `teleport aborted: ${reason} (weights left untouched)`,
    });
    report.budget = record(key, report, maxTotalGrowth);
    return report;
  } finally {
    innerStep?.dispose();
    tf.dispose(grads ?? []);
  }
}

/**
 * What the one-off teleports of `target` (a model, or the variables of a parameter-list teleport)
 * have used of their shared growth budget: the product of their growths, the cap, how many were
 * accepted and their summed loss drift.
 *
 * ```ts
 * const { growth, maxTotalGrowth } = tp.teleport.budget(model);
 * ```
 */
teleport.budget = (target: LayersModel | Variable | Variable[]): OneOffBudget => budgetOf(keyOf(target));

/**
 * Starts `target`'s one-off budget afresh: after training has moved the weights, earlier teleports'
 * growth no longer compounds with the next one.
 *
 * ```ts
 * await model.fit(xs, ys, { epochs: 1 });
 * tp.teleport.resetBudget(model);
 * ```
 */
teleport.resetBudget = (target: LayersModel | Variable | Variable[]): void => resetBudget(keyOf(target));

function keyOf(target: LayersModel | Variable | Variable[]): object {
  const key = Array.isArray(target) ? target[0] : target;
  if (key == null || typeof key !== 'object') throw badOption('tp.teleport.budget/resetBudget take the model (or the parameter variables) that was teleported');
  return key;
}
