import { badOption } from '../teleport/errors.js';
import { curvature } from './curvature.js';
import { gradNorm, preconditionedGradNorm } from './grad_norm.js';
import { sharpness } from './sharpness.js';
import { hessianTrace } from './hessian_trace.js';
import { lookahead } from './lookahead.js';
import type { Objective } from './types.js';

/**
 * Every objective a teleport can optimize, by name. Adding one: write `objectives/<name>.ts`
 * exporting an {@link Objective}, and add it here.
 */
const OBJECTIVE_TABLE = new Map<string, Objective>();

/** Registers an objective under its name (later registrations replace earlier ones). */
export function registerObjective(objective: Objective): void {
  OBJECTIVE_TABLE.set(objective.name, objective);
}

registerObjective(gradNorm);
registerObjective(preconditionedGradNorm);
registerObjective(curvature);
registerObjective(sharpness);
registerObjective(hessianTrace);
registerObjective(lookahead);

/** Names of the registered objectives. */
export function objectiveNames(): string[] {
  return [...OBJECTIVE_TABLE.keys()];
}

/** The objective called `name`; an unknown name is an error listing the choices. */
export function getObjective(name: string): Objective {
  const o = OBJECTIVE_TABLE.get(name);
  if (o == null) {
    throw badOption(`unknown objective ${JSON.stringify(name)}. Choose one of: ${objectiveNames().join(', ')} (with direction: 'maximize' | 'minimize')`);
  }
  return o;
}

/** An objective name: the built-in ones, or any registered later. */
export type ObjectiveName = 'gradNorm' | 'preconditionedGradNorm' | 'curvature' | 'sharpness' | 'hessianTrace' | 'lookahead' | (string & {});

/** The built-in objective names (see {@link objectiveNames} for everything registered). */
export const OBJECTIVES: readonly ObjectiveName[] = ['gradNorm', 'preconditionedGradNorm', 'curvature', 'sharpness', 'hessianTrace', 'lookahead'];
