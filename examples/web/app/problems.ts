import type { Schedule } from '../../../src/index.js';
import * as problems from '../../../src/problems.js';
import type { ActivationName } from '../../train/models.js';

/** The problems the playground offers: three 2-D test functions and a small MLP on MNIST digits. */
export const PROBLEMS = ['rosenbrock', 'booth', 'quadratic', 'mlp'] as const;
export type ProblemName = (typeof PROBLEMS)[number];

/** A 2-D test function with its plot window and the CLI's (dissertation §4.6.1) settings. */
export interface FunctionProblem {
  kind: 'function';
  fn: problems.TestFunction;
  start: [number, number];
  xRange: [number, number];
  yRange: [number, number];
}

/** The MLP problem: digits from the JSON subset the build writes (see examples/web/build.ts). */
export interface MlpProblem {
  kind: 'mlp';
}

export type Problem = FunctionProblem | MlpProblem;

/** An ill-conditioned 2-D quadratic (eigenvalues ≈ 9.2 and 0.8): plain GD crawls along its valley. */
const QUADRATIC = problems.quadratic(
  [
    [8, 3],
    [3, 2],
  ],
  [0, 0],
);

export function problemOf(name: ProblemName): Problem {
  switch (name) {
    case 'rosenbrock':
      return { kind: 'function', fn: problems.rosenbrock, start: [-1, -1], xRange: [-1.6, 1.6], yRange: [-1.5, 2.6] };
    case 'booth':
      return { kind: 'function', fn: problems.booth, start: [5, -5], xRange: [-6, 8], yRange: [-6, 8] };
    case 'quadratic':
      return { kind: 'function', fn: QUADRATIC, start: [-2, 2.5], xRange: [-3, 3], yRange: [-3, 3] };
    case 'mlp':
      return { kind: 'mlp' };
  }
}

/** What a problem starts with in the form: the CLI's settings where the CLI has them. */
export interface ProblemDefaults {
  steps: number;
  schedule: Schedule;
  ascentSteps: number;
  ascentLr: number;
  normalize: boolean;
  maxGrowth: number;
  maxTotalGrowth: number;
  group: string;
}

// Rosenbrock and Booth: the learning rate, steps and schedule of `tfjs-teleport test-functions` (the
// dissertation's, examples/commands/test_functions.ts), but the library's ascent and growth guard (10
// normalized steps of 0.1 from the identity, maxGrowth 2, run budget 4) in place of the CLI's plain
// ascent from a random angle with a cap of 10⁶ (group 'so2-random', max growth 1e6, max total growth
// Infinity, normalized off, ascent lr 0.1 or Booth's 0.001 in the form). With that cap a teleport can land where GD's step at lr 1e-3 is
// unstable (seen here: a 60-step Rosenbrock run teleporting every 20 steps diverged after its second
// teleport on wasm). Set max growth 1e6 and max total growth Infinity in the form to try it. The MLP: `tfjs-teleport mnist` (sgd 0.05, group auto, 10 normalized
// ascent steps of 0.1, growth cap 2).
const DEFAULTS: Record<ProblemName, ProblemDefaults> = {
  rosenbrock: {
    steps: 1000,
    schedule: { every: 100, start: 100, stop: 1000 },
    ascentSteps: 10,
    ascentLr: 0.1,
    normalize: true,
    maxGrowth: 2,
    maxTotalGrowth: 4,
    group: 'so2',
  },
  booth: { steps: 10, schedule: { atSteps: [5] }, ascentSteps: 10, ascentLr: 0.1, normalize: true, maxGrowth: 2, maxTotalGrowth: 4, group: 'so2' },
  quadratic: { steps: 200, schedule: { every: 40 }, ascentSteps: 10, ascentLr: 0.1, normalize: true, maxGrowth: 2, maxTotalGrowth: 4, group: 'so2' },
  mlp: { steps: 300, schedule: { every: 50 }, ascentSteps: 10, ascentLr: 0.1, normalize: true, maxGrowth: 2, maxTotalGrowth: 4, group: 'auto' },
};

export function problemDefaults(name: ProblemName): ProblemDefaults {
  return { ...DEFAULTS[name] };
}

/** The optimizers, as in the CLI (momentum 0.9; tf.train's defaults otherwise). */
export const OPTIMIZERS = ['sgd', 'momentum', 'adagrad', 'rmsprop', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

// Starting learning rates per problem and optimizer. The MLP's are the CLI's (`compare` DEFAULT_LR for
// mnist); the test functions' SGD rates are the dissertation's, the others a stable first guess.
const LEARNING_RATES: Record<ProblemName, Record<OptimizerName, number>> = {
  rosenbrock: { sgd: 1e-3, momentum: 1e-3, adagrad: 0.1, rmsprop: 1e-3, adam: 1e-2 },
  booth: { sgd: 0.08, momentum: 0.02, adagrad: 1, rmsprop: 0.1, adam: 0.5 },
  quadratic: { sgd: 0.05, momentum: 0.02, adagrad: 0.5, rmsprop: 0.02, adam: 0.05 },
  mlp: { sgd: 0.05, momentum: 0.01, adagrad: 0.05, rmsprop: 0.001, adam: 0.001 },
};

export function defaultLearningRate(problem: ProblemName, optimizer: OptimizerName): number {
  return LEARNING_RATES[problem][optimizer];
}

/** The MLP's shape and data settings. */
export interface MlpSettings {
  /** Hidden layer widths, as the CLI's --widths. */
  widths: number[];
  activation: ActivationName;
  batchSize: number;
}

export const MLP_DEFAULTS: MlpSettings = { widths: [32], activation: 'leakyRelu', batchSize: 20 };
