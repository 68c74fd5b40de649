import { chartAscent } from './chart_ascent.js';
import { closedFormAscent } from './closed_form_ascent.js';
import { glGramAscent } from './gl_gram_ascent.js';
import { hvpAscent } from './hvp_ascent.js';
import { tensorAscent } from './tensor_ascent.js';
import type { Solver, SolveProblem } from './types.js';

/**
 * Solvers in order of preference: the first whose `applies` accepts a problem solves it. Adding
 * one: write `solvers/<name>.ts` exporting a {@link Solver}, and register it here (before the
 * general ascent, which applies to everything).
 */
const SOLVER_TABLE: Solver[] = [closedFormAscent, glGramAscent, hvpAscent, chartAscent, tensorAscent];

/** Puts a solver ahead of the built-in ones. */
export function registerSolver(solver: Solver): void {
  SOLVER_TABLE.unshift(solver);
}

/** The first registered solver that applies to `problem`. */
export function solverFor(problem: SolveProblem): Solver {
  return SOLVER_TABLE.find(s => s.applies(problem))!;
}
