// A plain float64 MLP (Dense layers only) for the theorem tests: forward pass, per-example Jacobians
// of the outputs, the MSE loss gradient and Hessians, written from the definitions and independent of
// tfjs and of tp.split (it reads weights, nothing else).
import type { tfl } from './helpers.js';

export type Act = 'tanh' | 'linear' | 'relu';
export interface Layer64 {
  w: number[][];
  b: number[];
  act: Act;
}

/** The model's Dense layers in float64 (the float32 values, exactly). */
export function toFloat64(model: tfl.LayersModel): Layer64[] {
  return model.layers.map(l => {
    const [w, b] = l.getWeights();
    return { w: w.arraySync() as number[][], b: b.arraySync() as number[], act: String(l.getConfig().activation) as Act };
  });
}

/** Number of parameters, laid out like the model's weights flattened: W1 (row-major), b1, W2, b2, … */
export const paramCount = (net: Layer64[]) => net.reduce((s, l) => s + l.w.length * l.b.length + l.b.length, 0);

const act = (a: Act, z: number) => (a === 'tanh' ? Math.tanh(z) : a === 'relu' ? Math.max(0, z) : z);
const dact = (a: Act, z: number) => (a === 'tanh' ? 1 - Math.tanh(z) ** 2 : a === 'relu' ? (z > 0 ? 1 : 0) : 1);

function forward(net: Layer64[], x: number[]): { as: number[][]; zs: number[][] } {
  const as: number[][] = [x];
  const zs: number[][] = [];
  let a = x;
  for (const l of net) {
    const z = l.b.map((bj, j) => bj + a.reduce((s, ai, i) => s + ai * l.w[i][j], 0));
    zs.push(z);
    a = z.map(v => act(l.act, v));
    as.push(a);
  }
  return { as, zs };
}

export const predict = (net: Layer64[], x: number[]): number[] => forward(net, x).as[net.length];

/** ∂out_c/∂θ for every output c of one example, each a flat vector in the weight layout. */
export function jacobian(net: Layer64[], x: number[]): number[][] {
  const { as, zs } = forward(net, x);
  const outputs = net[net.length - 1].b.length;
  const rows: number[][] = [];
  for (let c = 0; c < outputs; c++) {
    const L = net.length;
    let delta = zs[L - 1].map((z, j) => (j === c ? dact(net[L - 1].act, z) : 0));
    const parts: number[][] = new Array(L);
    for (let l = L - 1; l >= 0; l--) {
      const { w } = net[l];
      const a = as[l];
      const gw: number[] = [];
      for (let i = 0; i < w.length; i++) for (let j = 0; j < delta.length; j++) gw.push(a[i] * delta[j]);
      parts[l] = [...gw, ...delta];
      if (l > 0) delta = zs[l - 1].map((z, i) => dact(net[l - 1].act, z) * w[i].reduce((s, wij, j) => s + wij * delta[j], 0));
    }
    rows.push(parts.flat());
  }
  return rows;
}

/** MSE over every output of every example (tf.losses.meanSquaredError's mean), and its gradient. */
export function lossAndGradient(net: Layer64[], xs: number[][], ys: number[][]): { loss: number; grad: number[] } {
  const p = paramCount(net);
  const grad = new Array(p).fill(0);
  let loss = 0;
  const n = xs.length * ys[0].length;
  xs.forEach((x, k) => {
    const out = predict(net, x);
    const J = jacobian(net, x);
    out.forEach((o, c) => {
      const r = o - ys[k][c];
      loss += (r * r) / n;
      for (let i = 0; i < p; i++) grad[i] += (2 * r * J[c][i]) / n;
    });
  });
  return { loss, grad };
}

/** Gauss–Newton matrix 2/n·ΣJᵀJ: the exact Hessian of the MSE wherever every residual is zero. */
export function gaussNewton(net: Layer64[], xs: number[][]): number[][] {
  const p = paramCount(net);
  const H = Array.from({ length: p }, () => new Array(p).fill(0));
  const n = xs.length * net[net.length - 1].b.length;
  for (const x of xs) {
    for (const row of jacobian(net, x)) {
      for (let i = 0; i < p; i++) {
        if (row[i] === 0) continue;
        for (let j = 0; j < p; j++) H[i][j] += (2 * row[i] * row[j]) / n;
      }
    }
  }
  return H;
}

/** The same parameters with θ replaced (flat vector in the weight layout). */
export function withParams(net: Layer64[], theta: number[]): Layer64[] {
  let o = 0;
  return net.map(l => {
    const w = l.w.map(row => row.map(() => theta[o++]));
    const b = l.b.map(() => theta[o++]);
    return { w, b, act: l.act };
  });
}

export const flatten = (net: Layer64[]): number[] => net.flatMap(l => [...l.w.flat(), ...l.b]);

/** The full Hessian of the MSE by central differences of the analytic gradient (step h), symmetrized. */
export function hessianByDifferences(net: Layer64[], xs: number[][], ys: number[][], h = 1e-5): number[][] {
  const theta = flatten(net);
  const cols = theta.map((_, i) => {
    const plus = theta.slice();
    const minus = theta.slice();
    plus[i] += h;
    minus[i] -= h;
    const gp = lossAndGradient(withParams(net, plus), xs, ys).grad;
    const gm = lossAndGradient(withParams(net, minus), xs, ys).grad;
    return gp.map((v, j) => (v - gm[j]) / (2 * h));
  });
  return cols.map((c, i) => c.map((v, j) => (v + cols[j][i]) / 2));
}
