import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import * as tp from '../../src/index.js';

// The root export is the stable surface (semver). It grows only on purpose: a new name must be added
// to these lists in the same change, and anything research-grade belongs under a subpath instead.

const ROOT_VALUES = [
  'DEFAULTS',
  'NoOrbitError',
  'TeleportError',
  'TeleportOptimizer',
  'UnsupportedLayerError',
  'adagrad',
  'adam',
  'groupNames',
  'momentum',
  'objectiveNames',
  'registerGroup',
  'registerObjective',
  'registerSolver',
  'rmsprop',
  'sgd',
  'teleport',
  'wrap',
];

const ROOT_TYPES = [
  'Batch',
  'ClosedForm',
  'Exactness',
  'GroupBuildContext',
  'GroupEntry',
  'GroupOption',
  'HeldOut',
  'InnerRule',
  'InnerStep',
  'Objective',
  'ObjectiveContext',
  'ObjectiveFamily',
  'ObjectiveName',
  'ObjectiveOptionSpec',
  'ObjectiveSettings',
  'ObjectiveTraits',
  'OneOffBudget',
  'PreparedSolve',
  'Preconditioner',
  'RejectionKind',
  'Schedule',
  'ScheduleDecision',
  'SharpnessEstimator',
  'SiteAction',
  'SlotKind',
  'SolveContext',
  'SolveProblem',
  'Solver',
  'SolverOptions',
  'SolverResult',
  'StatePolicy',
  'StepRule',
  'TeleportData',
  'TeleportErrorKind',
  'TeleportMetrics',
  'TeleportOptimizerOptions',
  'TeleportOptions',
  'TeleportReport',
];

const ROOT = process.cwd();
const ENTRIES = ['index', 'advanced', 'groups', 'hessian', 'meta', 'metrics', 'problems', 'surgery'];

/** Every name each entry file exports (values and types), read by the TypeScript checker. */
function exportedNames(): Record<string, string[]> {
  const files = ENTRIES.map(e => join(ROOT, 'src', `${e}.ts`));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out: Record<string, string[]> = {};
  ENTRIES.forEach((entry, i) => {
    const source = program.getSourceFile(files[i]);
    if (source == null) throw new Error(`no source for ${files[i]}`);
    const symbol = checker.getSymbolAtLocation(source);
    if (symbol == null) throw new Error(`${files[i]} is not a module`);
    out[entry] = checker
      .getExportsOfModule(symbol)
      .map(s => s.getName())
      .sort();
  });
  return out;
}

const names = exportedNames();

test('the root exports exactly the agreed values (a new one is a deliberate change to this list)', t => {
  t.deepEqual(Object.keys(tp).sort(), [...ROOT_VALUES].sort());
});

test('the root exports exactly the agreed names, types included, and about forty of them', t => {
  t.deepEqual(names.index, [...ROOT_VALUES, ...ROOT_TYPES].sort());
  t.true(names.index.length <= 55, `${names.index.length} root names`);
});

test('the root has no namespaces: research and internals live under subpaths', t => {
  for (const [name, value] of Object.entries(tp)) t.false(value != null && typeof value === 'object' && Object.getPrototypeOf(value) === null, name);
  for (const sub of ['meta', 'hessian', 'metrics', 'problems', 'groups', 'linalg', 'split', 'merge', 'runTeleport', 'guard', 'readModel'])
    t.false(names.index.includes(sub), sub);
});

test('every subpath entry exports something, and nothing it exports repeats a root name', t => {
  for (const entry of ENTRIES.slice(1)) {
    t.true(names[entry].length > 0, entry);
    // The register interfaces' types are the root's; a subpath may not offer a second way in.
    const repeated = names[entry].filter(n => names.index.includes(n) && !['SiteAction', 'SlotKind', 'Exactness'].includes(n));
    t.deepEqual(repeated, [], entry);
  }
});

test('the research names that left the root are reachable from a subpath', t => {
  const where = (name: string) => ENTRIES.slice(1).filter(e => names[e].includes(name));
  const expected: Record<string, string> = {
    runTeleport: 'advanced',
    guard: 'advanced',
    solverFor: 'advanced',
    gramElementMatrices: 'advanced',
    OPTION_SPECS: 'advanced',
    SeededRandom: 'advanced',
    linalg: 'advanced',
    readModel: 'advanced',
    so2: 'groups',
    orthogonal: 'groups',
    topEigenvalues: 'hessian',
    MetaTeleporter: 'meta',
    sharpness: 'metrics',
    curvature: 'metrics',
    rosenbrock: 'problems',
    split: 'surgery',
    merge: 'surgery',
  };
  for (const [name, entry] of Object.entries(expected)) t.deepEqual(where(name), [entry], name);
});

test('the API reference covers exactly the package entries (typedoc.json entryPoints = package.json exports)', t => {
  const read = (f: string) => JSON.parse(readFileSync(join(ROOT, f), 'utf8'));
  const exportsMap = read('package.json').exports as Record<string, string | { import: string }>;
  const sources = Object.values(exportsMap)
    .filter((v): v is { import: string } => typeof v === 'object')
    .map(v => v.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
  t.deepEqual([...(read('typedoc.json').entryPoints as string[])].sort(), sources.sort());
});
