import { selectBackend } from '../backend.js';

/** A user error: the CLI prints its message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseList(spec: string): string[] {
  return spec
    .split(',')
    .map(s => s.trim())
    .filter(s => s.length > 0);
}

export function parseNumberList(flag: string, spec: string): number[] {
  refuseEmptyItems(flag, String(spec));
  const items = parseList(String(spec));
  const nums = items.map(Number);
  if (items.length === 0 || nums.some(n => !Number.isFinite(n))) throw new UsageError(`${flag} must be a comma list of numbers, got '${spec}'`);
  return nums;
}

/** Refuses an empty item in a comma list (`sgd,,adam`, `sgd,`): it is a typo, not a request to skip. */
function refuseEmptyItems(flag: string, spec: string): void {
  const raw = String(spec).split(',');
  if (raw.length > 1 && raw.some(s => s.trim().length === 0))
    throw new UsageError(`${flag} has an empty item in '${spec}'; separate the values with single commas`);
}

export function parseChoiceList<T extends string>(flag: string, spec: string, choices: readonly T[]): T[] {
  refuseEmptyItems(flag, spec);
  const items = parseList(spec);
  const bad = items.filter(i => !(choices as readonly string[]).includes(i));
  if (items.length === 0 || bad.length) {
    throw new UsageError(
      `${flag}: unknown value${bad.length > 1 ? 's' : ''} ${bad.map(b => `'${b}'`).join(', ') || "''"}; valid choices: ${choices.join(', ')}`,
    );
  }
  return items as T[];
}

/** An optional count flag such as --train-limit: undefined, or a positive integer (0 would leave no data). */
export function parseOptionalCount(flag: string, value: number | undefined, what: string): number | undefined {
  if (value == null) return undefined;
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} must be a positive integer (${what}), got ${value}; omit it to use them all`);
  return value;
}

/** `--lr 0.05` for all, or `--lr sgd=0.05,adam=0.001` per optimizer; the rest from defaults. */
export function parseLearningRates<T extends string>(spec: string | undefined, optimizers: readonly T[], defaults: Record<T, number>): Record<T, number> {
  const out = { ...defaults };
  if (spec == null) return out;
  if (/^[\d.eE+-]+$/.test(spec.trim())) {
    const v = Number(spec);
    if (!(v > 0)) throw new UsageError(`--lr must be positive, got ${spec}`);
    for (const o of optimizers) out[o] = v;
    return out;
  }
  refuseEmptyItems('--lr', spec);
  for (const part of parseList(spec)) {
    if (!part.includes('=')) throw new UsageError(`--lr must be a positive number, or per optimizer name=rate (e.g. sgd=0.05,adam=0.001), got '${spec}'`);
    const [name, value] = part.split('=');
    if (!(name in defaults)) throw new UsageError(`--lr: unknown optimizer '${name}'; valid choices: ${Object.keys(defaults).join(', ')}`);
    const v = Number(value);
    if (!(v > 0)) throw new UsageError(`--lr: learning rate of ${name} must be positive, got '${value}'`);
    out[name as T] = v;
  }
  return out;
}

export const backendOption = {
  type: 'string' as const,
  choices: ['node-gpu', 'node', 'wasm', 'cpu'],
  describe: 'tfjs backend (default: the first available of node-gpu, node, wasm, cpu)',
};

export async function useBackend(preference: string | undefined, log: (m: string) => void): Promise<string> {
  return selectBackend(preference, log);
}

export function defaultOut(command: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return `runs/${command}-${stamp}`;
}

/** An integer flag of at least `min` (a count): `intAtLeast('--epochs', 0)` throws a UsageError naming the flag. */
export function intAtLeast(flag: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** A positive, finite number flag (a rate, a tolerance): `positiveNumber('--lr', -1)` throws a UsageError naming the flag. */
export function positiveNumber(flag: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new UsageError(`${flag} must be a positive number, got ${v}`);
  return v;
}

/**
 * yargs turns a bad value of a number flag (`--teleport-lr abc`) into NaN, which the code would only
 * trip over later, without the flag's name. Before any command runs, this names the first such flag
 * and the value the user typed.
 */
export function refuseNaNFlags(argv: Record<string, unknown>, raw: readonly string[]): void {
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || /[A-Z]/.test(key)) continue;
    const values = Array.isArray(value) ? value : [value];
    if (!values.some(v => typeof v === 'number' && Number.isNaN(v))) continue;
    const flag = `--${key}`;
    let given: string | undefined;
    raw.forEach((a, i) => {
      if (a === flag) given = raw[i + 1];
      else if (a.startsWith(`${flag}=`)) given = a.slice(flag.length + 1);
    });
    throw new UsageError(`${flag} must be a number, got '${given ?? ''}'`);
  }
}
