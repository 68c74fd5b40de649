/** Moved to src/linalg/ (the one home of linear algebra); this path re-exports it. */
export { expm, expmPair, expmNumbers, type ExpmOptions } from '../linalg/index.js';
