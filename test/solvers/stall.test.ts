/**
 * The stall rule of the shared ascent (`stallTolerance`): an accepted step that gains less than the
 * tolerance × |objective at the identity| ends the search; the best point is kept. On a 1-D objective
 * with a known shape, the evaluations are counted by the space itself.
 */
import test from 'ava';
import { guardedAscent, type AscentSpace, type Evaluation } from '../../src/solvers/step_rule.js';
import type { SolverOptions } from '../../src/solvers/types.js';

/** f(x) = 2 − e^{−x} on numbers: gains shrink by e^{−0.5} per step of 0.5; f(0) = 1. */
function space(): { space: AscentSpace<number>; evaluations: () => number } {
  let count = 0;
  const f = (x: number) => 2 - Math.exp(-x);
  return {
    space: {
      evaluate(point) {
        count++;
        return { point, value: f(point), gradNormSq: Math.exp(-2 * point) } as Evaluation<number>;
      },
      move: (from, scale) => from.point + scale * Math.sqrt(from.gradNormSq),
      release: () => {},
    },
    evaluations: () => count,
  };
}

const opts = (stallTolerance?: number): SolverOptions => ({
  steps: 20,
  lr: 0.5,
  direction: 'maximize',
  normalize: true,
  lineSearch: false,
  maxGrowth: 100,
  maxBacktracks: 3,
  stepRule: 'fixed',
  stallTolerance,
});

test('a stalled ascent stops at the first step that gains less than the tolerance; without it every step is taken', t => {
  const plain = space();
  const all = guardedAscent(plain.space, 0, null, opts());
  t.is(all.stepsTaken, 20);
  t.is(plain.evaluations(), 21);
  const stalled = space();
  const r = guardedAscent(stalled.space, 0, null, opts(0.05));
  // Step k (from x = 0.5(k−1) to 0.5k) gains e^{−0.5(k−1)}(1 − e^{−0.5}) = 0.393·0.607^{k−1}: below 0.05 from k = 6 on (0.053, then 0.032).
  const gains = Array.from({ length: 20 }, (_, i) => Math.exp(-0.5 * i) * (1 - Math.exp(-0.5)));
  const expected = gains.findIndex(g => g < 0.05) + 1;
  t.is(expected, 6);
  t.is(r.stepsTaken, expected);
  t.is(stalled.evaluations(), expected + 1);
  // The best point is the last one reached, never a worse one.
  t.is(r.best, 0.5 * expected);
  t.true(Math.abs(r.objectiveAfter - (2 - Math.exp(-0.5 * expected))) < 1e-12);
});
