/**
 * The gl-data event of Fig. 4.6 alone: `npx tsx bench/gldata_event.ts [--rank dense|N] [--reps N]`.
 * `--route generic|compare` times the route without the batch-space solver, or both alternately.
 * Prints the event's share of an epoch of the embedded digits (measured steps per epoch) and of a
 * 60 000-example MNIST epoch (3 000 steps of 20, the dissertation's), and the ‖∇L‖² growth it reached.
 */
import { setupBackend } from './common.js';
import { measureGlDataEvent } from './pays_gldata.js';
import { glDataBatchAscent } from '../src/solvers/gl_data_batch_ascent.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const rankArg = arg('rank');
const glDataRank = rankArg == null ? undefined : rankArg === 'dense' ? 'dense' : Number(rankArg);
const reps = Number(arg('reps') ?? 2);
const backend = await setupBackend(arg('backend'));
const steps = arg('steps');
const measure = () =>
  measureGlDataEvent({
    reps,
    glDataRank,
    seed: Number(arg('seed') ?? 1),
    ...(steps != null ? { ascentSteps: Number(steps) } : {}),
    ...(arg('lr') != null ? { ascentLr: Number(arg('lr')) } : {}),
  });
const mnistEpochSteps = 3000;
// --route generic: without the batch-space solver (the generic nested autodiff, as before it existed);
// --route compare: generic and batch space alternately, twice each, in this one process.
const route = arg('route') ?? 'default';
const batchSpace = glDataBatchAscent.prepare;
const useRoute = (r: string) => {
  glDataBatchAscent.prepare = r === 'generic' ? () => null : batchSpace;
};
const routes = route === 'compare' ? ['generic', 'batch', 'generic', 'batch'] : [route];
for (const r0 of routes) {
  useRoute(r0);
  print(r0, await measure());
}

function print(routeName: string, r: Awaited<ReturnType<typeof measureGlDataEvent>>) {
  console.log(
    JSON.stringify({
      route: routeName,
      backend: backend.name,
      rank: glDataRank ?? 'default',
      ascentSteps: steps ?? 'Fig. 4.6 (10)',
      ascentLr: arg('lr') ?? 'Fig. 4.6 (1e-3)',
      eventMs: r.eventMs,
      stepMs: r.stepMs,
      stepsPerEpoch: r.stepsPerEpoch,
      shareOfDigitsEpoch: r.shareOfEpoch,
      shareOfMnistEpoch: r.eventMs / (mnistEpochSteps * r.stepMs),
      accepted: r.accepted,
      growth: r.growth,
      drift: r.drift,
      rejections: r.rejections,
      reps,
    }),
  );
}
