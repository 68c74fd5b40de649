/** Moved to src/linalg/ (the one home of linear algebra); this path re-exports it. */
export { invertNumbers, pinv, pinvConstant, inverse } from '../linalg/index.js';
