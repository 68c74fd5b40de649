/**
 * Records produced by the example scripts that compare training with and
 * without symmetry teleportation. They are plain JSON-serialisable objects so
 * runs can be written to disk and re-plotted later.
 */

/** One logged point on a training curve. */
export interface CurvePoint {
  /** Epoch index (may be fractional when logging within an epoch). */
  epoch: number;
  /** Global optimizer step count. */
  step: number;
  /** Wall time since the run started, in seconds. */
  seconds: number;
  trainLoss: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Squared gradient norm of the training loss at this point. */
  gradNormSq?: number;
}

/** One teleport step taken between two optimizer steps. */
export interface TeleportEvent {
  /** Epochs completed when the teleport happened (fractional within an epoch: step / steps per epoch). */
  epoch: number;
  step: number;
  /** Wall time since the run started when the teleport began, in seconds. */
  seconds: number;
  /** Time spent in the teleport itself, in milliseconds. */
  ms: number;
  gradNormSqBefore: number;
  gradNormSqAfter: number;
  /** (loss after − loss before) / loss before, or null when not measured. */
  relativeLossDrift: number | null;
  /** Whether the teleported weights were kept. */
  accepted: boolean;
}

/**
 * One training run. `variant` is 'baseline' (plain optimizer), 'teleport'
 * (optimizer + teleport steps) or 'reset' (control: optimizer state is reset
 * at the teleport moments, but the weights are not moved).
 */
export interface RunRecord {
  optimizer: string;
  variant: 'baseline' | 'teleport' | 'reset';
  seed: number;
  label: string;
  /** Per-epoch points: train loss evaluated on the training set, validation metrics, ‖∇L‖². */
  points: CurvePoint[];
  /**
   * The training loss at step resolution (about 20 points per epoch): each point's `trainLoss` is
   * the mean of the training-batch losses of the `fineWindow` (or fewer) steps before its `step`;
   * `epoch` is fractional (step / steps per epoch). The first point is the evaluated initial train
   * loss at step 0. Absent in records written before it existed.
   */
  fine?: CurvePoint[];
  /** Most steps averaged into one `fine` point. */
  fineWindow?: number;
  teleports: TeleportEvent[];
  /** Wall time of the whole run, in seconds. */
  totalSeconds: number;
  /** Wall time spent inside teleport steps, in seconds. */
  teleportSeconds: number;
  diverged?: boolean;
}
