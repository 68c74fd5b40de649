export { split, type SplitOptions, type SplitWithOptimizer } from './split.js';
export { merge, type MergeOptions, type MergeResult, type LayerMerge } from './merge.js';
