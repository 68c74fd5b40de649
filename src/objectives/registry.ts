import { badOption } from '../core/errors.js';
import { curvature } from './curvature.js';
import { gradNorm, preconditionedGradNorm } from './grad_norm.js';
import { sharpness } from './sharpness.js';
import { hessianTrace } from './hessian_trace.js';
import { lookahead } from './lookahead.js';
import type { Objective, ObjectiveOptionSpec } from './types.js';

/**
 * Every objective a teleport can optimize, by name. Adding one: write `objectives/<name>.ts`
 * exporting an {@link Objective} that declares its traits (`needs`, `family`, `usesPreconditioner`,
 * `stepRule`), and add it to {@link BUILT_IN_OBJECTIVES} here (or call {@link registerObjective} from anywhere):
 * the option check, the engine, the solvers, the optimizers and the CLI's choices all read this table.
 */
const OBJECTIVE_TABLE = new Map<string, Objective>();

/** Registers an objective under its name (later registrations replace earlier ones). */
export function registerObjective(objective: Objective): void {
  if (objective == null || typeof objective.name !== 'string' || objective.name === '' || typeof objective.value !== 'function') {
    throw badOption('registerObjective needs an objective with a non-empty `name` and a `value(ctx)` function (see the Objective interface)');
  }
  for (const [option, spec] of Object.entries(objective.options ?? {})) {
    const owner = [...OBJECTIVE_TABLE.values()].find(o => o.name !== objective.name && o.options?.[option] != null && o.options[option] !== spec);
    if (owner != null) {
      throw badOption(`objective '${objective.name}' declares option '${option}', which objective '${owner.name}' declares differently: give it another name`);
    }
  }
  OBJECTIVE_TABLE.set(objective.name, objective);
}

/** The teleport options the registered objectives read, by name (see `Objective.options`). */
export function objectiveOptionSpecs(): Record<string, ObjectiveOptionSpec> {
  const out: Record<string, ObjectiveOptionSpec> = {};
  for (const o of OBJECTIVE_TABLE.values()) Object.assign(out, o.options ?? {});
  return out;
}

/** The built-in objectives, each under its own name (the one list their names and types come from). */
/** The objectives that ship with the package, by name (registered when this module loads). */
export const BUILT_IN_OBJECTIVES = { gradNorm, preconditionedGradNorm, curvature, sharpness, hessianTrace, lookahead } as const;

for (const [name, objective] of Object.entries(BUILT_IN_OBJECTIVES)) {
  if (objective.name !== name) throw new Error(`objective registered as '${name}' is named '${objective.name}'`);
  registerObjective(objective);
}

/** Names of the registered objectives (built-in and registered later), in registration order. */
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
export type ObjectiveName = keyof typeof BUILT_IN_OBJECTIVES | (string & {});

/** The built-in objective names (see {@link objectiveNames} for everything registered, at the time of the call). */
export const OBJECTIVES: readonly ObjectiveName[] = Object.freeze(Object.keys(BUILT_IN_OBJECTIVES) as ObjectiveName[]);
