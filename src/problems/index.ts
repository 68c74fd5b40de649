/** Test problems: the dissertation's test functions and multi-layer regression. */
export * from './test_functions.js';
export * from './regression.js';
