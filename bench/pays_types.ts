/** The pays matrix's plan and result types (shared by the runner, bench/pays.ts, and its report, bench/pays_report.ts). */
import type { OptimizerName } from '../examples/train/runner.js';
import type { ArmName } from './pays_matrix.js';
import type { CellResult } from './pays_stats.js';
import type { GlDataCost } from './pays_gldata.js';

export const MODEL_KEYS = ['mlp16', 'mlp512', 'cnn'] as const;
export type ModelKey = (typeof MODEL_KEYS)[number];
export const DATASET_KEYS = ['mnist', 'fashion'] as const;
export type DatasetKey = (typeof DATASET_KEYS)[number];

/** Everything a run of the matrix needs; `paysPlan` (bench/pays.ts) gives the bench's full and quick plans. */
export interface PaysPlan {
  /** Extra options of every teleporting arm, from PAYS_TELEPORT_OPTIONS (JSON); none by default. */
  teleportOptions?: Record<string, unknown>;
  models: ModelKey[];
  datasets: DatasetKey[];
  optimizers: OptimizerName[];
  arms: readonly ArmName[];
  /** Reported seeds (held out: never used to pick a setting). */
  seeds: number[];
  /** Seeds of the learning-rate search (disjoint from `seeds`). */
  tuneSeeds: number[];
  /** Learning rates searched per optimizer (baseline arm, final train loss on the tuning seeds). */
  lrGrid: Record<OptimizerName, number[]>;
  trainCount: number;
  testCount: number;
  evalCount: number;
  batchSize: number;
  /** Training steps per run, per model. */
  steps: Record<ModelKey, number>;
  evalEvery: number;
  teleportEvery: number;
  teleportBatchSize: number;
  /** Rounds of the gl-data event timing (0: not measured). */
  glDataReps: number;
}

/** What the matrix returns: the cells, the learning-rate search, what was skipped and why. */
export interface PaysResult {
  plan: PaysPlan;
  cells: CellResult[];
  tuning: Array<{ model: ModelKey; dataset: DatasetKey; optimizer: OptimizerName; scores: Array<{ lr: number; loss: number }>; best: number; edge: boolean }>;
  skipped: string[];
  glData: GlDataCost | null;
}
