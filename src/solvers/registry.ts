import { chartAscent } from './chart_ascent.js';
import { closedFormAscent } from './closed_form_ascent.js';
import { glDataBatchAscent } from './gl_data_batch_ascent.js';
import { glGramAscent } from './gl_gram_ascent.js';
import { hvpAscent } from './hvp_ascent.js';
import { sketchAscent } from './sketch_ascent.js';
import { tensorAscent } from './tensor_ascent.js';
import type { PreparedSolve, Solver, SolveProblem } from './types.js';

/**
 * Solvers in order of preference: the first whose `prepare` accepts a problem solves it. Adding
 * one: write `solvers/<name>.ts` exporting a {@link Solver}, and register it here (before the
 * general ascent, which accepts everything), or call {@link registerSolver}.
 */
const SOLVER_TABLE: Solver[] = [closedFormAscent, glGramAscent, hvpAscent, glDataBatchAscent, chartAscent, sketchAscent, tensorAscent];

/** Puts a solver ahead of the built-in ones. */
export function registerSolver(solver: Solver): void {
  SOLVER_TABLE.unshift(solver);
}

/** The first registered solver that accepts `problem`, prepared for it (its `name` says which). */
export function solverFor(problem: SolveProblem): PreparedSolve {
  for (const solver of SOLVER_TABLE) {
    const prepared = solver.prepare(problem);
    if (prepared != null) return prepared;
  }
  throw new Error('unreachable: the general ascent accepts every problem');
}
