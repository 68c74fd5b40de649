/**
 * The gl-data event of Fig. 4.6 alone: `npx tsx bench/gldata_event.ts [--rank dense|N] [--reps N]`.
 * Prints the event's share of an epoch of the embedded digits (measured steps per epoch) and of a
 * 60 000-example MNIST epoch (3 000 steps of 20, the dissertation's), and the ‖∇L‖² growth it reached.
 */
import { setupBackend } from './common.js';
import { measureGlDataEvent } from './pays_gldata.js';

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
const r = await measureGlDataEvent({
  reps,
  glDataRank,
  seed: Number(arg('seed') ?? 1),
  ...(steps != null ? { ascentSteps: Number(steps) } : {}),
  ...(arg('lr') != null ? { ascentLr: Number(arg('lr')) } : {}),
});
const mnistEpochSteps = 3000;
console.log(
  JSON.stringify({
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
