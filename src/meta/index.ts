/**
 * Learning to teleport (dissertation §5.5): a learned optimizer whose two LSTMs give the local update
 * and a group element, meta-trained by unrolled optimization on a family of tasks.
 */
export {
  MetaTeleporter,
  type MetaLearn,
  type MetaArchitecture,
  type MetaTeleporterOptions,
  type MetaShape,
  type MetaStep,
  type MetaStepContext,
  type BaseLrChoice,
} from './teleporter.js';
export { gdLosses, isStable, largestStableLr, type StableLrSearch } from './base_lr.js';
export { coordinateFeatures, groupEntryFeatures, objectiveDerivative } from './coordinatewise.js';
export { disposeState, type MetaState } from './tensors.js';
export {
  trainMeta,
  validationScore,
  windowLoss,
  lossValue,
  type MetaTrainOptions,
  type MetaTrainReport,
  type MetaProgress,
  type MetaTrainee,
} from './train.js';
export {
  regressionFamily,
  userFamily,
  resolveFamily,
  type MetaFamily,
  type MetaTask,
  type UserFamily,
  type FamilyName,
  type RegressionFamilyOptions,
} from './family.js';
export { Lstm, type LstmState } from './lstm.js';
export { optimizer, MetaOptimizer, type MetaOptimizerOptions } from './optimizer.js';
