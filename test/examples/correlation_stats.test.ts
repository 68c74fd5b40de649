import test from 'ava';
import { bootstrapPearson, pearson, quantileSorted } from '../../examples/report/correlation_stats.js';

test('pearson: a perfectly linear sample gives r = 1, a decreasing one r = −1', t => {
  const xs = [1, 2, 3, 4, 5];
  t.is(
    pearson(
      xs,
      xs.map(x => 3 * x + 2),
    ),
    1,
  );
  t.is(
    pearson(
      xs,
      xs.map(x => -0.5 * x + 7),
    ),
    -1,
  );
});

test('pearson: hand-computed small samples', t => {
  // x = 1,2,3; y = 1,3,2: Σdxdy = 1, Σdx² = Σdy² = 2 → r = 1/2.
  t.true(Math.abs(pearson([1, 2, 3], [1, 3, 2]) - 0.5) < 1e-12);
  // x = 1,2,3,4; y = 2,1,4,3: Σdxdy = 3, Σdx² = Σdy² = 5 → r = 0.6.
  t.true(Math.abs(pearson([1, 2, 3, 4], [2, 1, 4, 3]) - 0.6) < 1e-12);
  // Invariant under affine maps of either side with positive scale.
  t.true(Math.abs(pearson([10, 20, 30, 40], [-1, -2, 5, 3]) - pearson([1, 2, 3, 4], [-1, -2, 5, 3])) < 1e-12);
});

test('pearson: undefined (NaN) for constant samples, mismatched lengths or fewer than two pairs', t => {
  t.true(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  t.true(Number.isNaN(pearson([1, 2], [1, 2, 3])));
  t.true(Number.isNaN(pearson([1], [1])));
});

test('quantileSorted interpolates between order statistics', t => {
  t.is(quantileSorted([0, 10], 0.5), 5);
  t.is(quantileSorted([1, 2, 3, 4, 5], 0.25), 2);
  t.is(quantileSorted([1, 2, 3, 4, 5], 1), 5);
  t.true(Number.isNaN(quantileSorted([], 0.5)));
});

const xs = [0.1, 0.4, 0.35, 0.8, 0.55, 0.9, 0.2, 0.65, 0.3, 0.7, 0.45, 0.6];
const ys = [1.2, 1.9, 1.4, 2.6, 1.7, 2.2, 1.5, 2.4, 1.1, 2.0, 1.8, 1.6];

test('bootstrap: the interval contains r, is reproducible with a seed and changes with another seed', t => {
  const a = bootstrapPearson(xs, ys, { seed: 7 });
  t.is(a.r, pearson(xs, ys));
  t.true(a.lo <= a.r && a.r <= a.hi, `${a.lo} ≤ ${a.r} ≤ ${a.hi}`);
  t.true(a.lo > 0 && a.hi <= 1);
  t.is(a.level, 0.95);
  t.is(a.resamples, 2000);
  t.true(a.valid > 1990);
  t.deepEqual(bootstrapPearson(xs, ys, { seed: 7 }), a);
  const b = bootstrapPearson(xs, ys, { seed: 8 });
  t.not(b.lo, a.lo);
  // A wider level gives a wider interval from the same resamples.
  const c = bootstrapPearson(xs, ys, { seed: 7, level: 0.99 });
  t.true(c.lo <= a.lo && c.hi >= a.hi);
});

test('bootstrap: a perfectly linear sample gives the interval [1, 1]', t => {
  const b = bootstrapPearson([1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12], { seed: 1, resamples: 200 });
  t.is(b.r, 1);
  t.is(b.lo, 1);
  t.is(b.hi, 1);
});

test('bootstrap: no defined resample gives NaN bounds, not a throw', t => {
  const b = bootstrapPearson([1, 1, 1], [1, 2, 3], { seed: 1, resamples: 50 });
  t.true(Number.isNaN(b.r) && Number.isNaN(b.lo) && Number.isNaN(b.hi));
  t.is(b.valid, 0);
});
