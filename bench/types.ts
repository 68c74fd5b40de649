import type { BenchContext, TargetResult } from './common.js';

/** What a benchmark module returns; bench/run.ts adds backend, timing and leak check and writes the files. */
export interface BenchOutput {
  title: string;
  headline: string[];
  targets: TargetResult[];
  data: unknown;
  /** Markdown after the common header (method, tables, notes). */
  body: string;
  /** Tensors the benchmark knows it leaves behind, and why (e.g. an upstream tfjs bug). */
  knownLeaks?: { count: number; reason: string };
}

export type Bench = (ctx: BenchContext) => Promise<BenchOutput>;
