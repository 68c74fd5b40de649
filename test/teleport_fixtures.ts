/**
 * Fixtures shared by the solver and group tests: a linear MLP with its GL actions, and the rescale
 * closed form run beside the autodiff ascent it must reproduce.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mlp, seededUniform } from './helpers.js';
import { readModel } from '../src/structure/read_model.js';
import { planTeleport } from '../src/teleport/plan.js';
import { transportGradients } from '../src/teleport/engine.js';
import { gradNormSq } from '../src/objectives/grad_norm.js';
import { rescaleObjective, rescaleTerms } from '../src/objectives/rescale_closed_form.js';
import { ascendClosedForm } from '../src/solvers/closed_form_ascent.js';
import { ascend } from '../src/solvers/tensor_ascent.js';
import type { SiteAction } from '../src/groups/types.js';
import type { SolverOptions } from '../src/solvers/types.js';

/** A linear MLP (two GL sites sharing the middle kernel), its GL actions, a loss and its gradient. */
export function linearGlCase(widths = [6, 5]) {
  const model = mlp({ activation: 'linear', widths });
  const s = readModel(model);
  const actions = planTeleport(s, 'gl').build(s.variables);
  const x = seededUniform([8, 6], 3);
  const y = seededUniform([8, 3], 4);
  const loss = (ps: readonly tf.Tensor[]) => tf.mean(tf.square(tf.sub(s.forward(ps.slice(), x).output, y))) as tf.Scalar;
  const grads = tf.grads((...ps: tf.Tensor[]) => loss(ps))(s.variables);
  const touched = new Set(actions.flatMap(a => a.touches));
  // The autodiff objective: ‖∇L(g·w)‖² over the touched parameters, through gl.ts's transport and exp(θ).
  const objective = (th: readonly tf.Tensor[]) => gradNormSq(transportGradients(actions, grads, th).map((g, i) => (touched.has(i) ? g : null)));
  const dispose = () => {
    tf.dispose([...grads, x, y]);
    model.dispose();
  };
  return { model, s, actions, x, y, loss, grads, touched, objective, dispose };
}

/**
 * The same rescale ascent twice: by the closed form (`fast`) and by tensor autodiff of the transported
 * preconditioned ‖∇L‖² (`slow`), from θ = 0 (`init`; the caller disposes the thetas and `init`).
 */
export function rescaleClosedFormAndAutodiff(
  actions: readonly SiteAction[],
  grads: readonly tf.Tensor[],
  precond: tf.Tensor[] | null,
  settings: SolverOptions,
) {
  const sites = actions.map(a => a.diagonal!);
  const terms = rescaleTerms(sites, grads, precond);
  const fast = ascendClosedForm({ widths: sites.map(z => z.width), evaluate: v => rescaleObjective(terms, v) }, settings);
  const init = actions.map(a => a.init(() => 0));
  const touched = new Set(actions.flatMap(a => a.touches));
  const slow = ascend(
    th =>
      gradNormSq(
        transportGradients(actions, grads, th).map((g, i) => (touched.has(i) ? g : null)),
        precond,
      ),
    init,
    settings,
  );
  return { fast, slow, init };
}
