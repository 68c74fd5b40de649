import { badOption, show } from './errors.js';

const isFn = (v: unknown) => typeof v === 'function';

/**
 * Checks of option values: each throws a 'bad-option' TeleportError naming the option and what it
 * must be, and returns the value to use. Shared by the option table and the options objectives declare.
 */
function number(name: string, opts: { integer?: boolean; min?: number; minExclusive?: boolean; allowInfinity?: boolean } = {}) {
  return (v: unknown) => {
    const { integer = false, min = 0, minExclusive = false, allowInfinity = false } = opts;
    const finiteOk = typeof v === 'number' && (Number.isFinite(v) || (allowInfinity && v === Infinity));
    const ok = finiteOk && (minExclusive ? (v as number) > min : (v as number) >= min) && (!integer || Number.isInteger(v) || v === Infinity);
    if (!ok) {
      const kind = integer ? 'integer' : allowInfinity ? 'number' : 'finite number';
      const what =
        min === 0 ? `a ${minExclusive ? 'positive' : 'non-negative'} ${kind}` : `${kind === 'integer' ? 'an' : 'a'} ${kind} ${minExclusive ? '>' : '≥'} ${min}`;
      throw badOption(`option ${name} must be ${what}, got ${show(v)}`);
    }
    return v;
  };
}

function oneOf(name: string, choices: readonly string[]) {
  return (v: unknown) => {
    if (typeof v !== 'string' || !choices.includes(v)) throw badOption(`option ${name} must be one of ${choices.join(', ')}, got ${show(v)}`);
    return v;
  };
}

function boolean(name: string) {
  return (v: unknown) => {
    if (typeof v !== 'boolean') throw badOption(`option ${name} must be true or false, got ${show(v)}`);
    return v;
  };
}

function fn(name: string, signature: string) {
  return (v: unknown) => {
    if (!isFn(v)) throw badOption(`option ${name} must be a function ${signature}, got ${show(v)}`);
    return v;
  };
}

/** The checks by name: `optionChecks.number('steps', { integer: true })(value)`. */
export const optionChecks = { number, oneOf, boolean, fn };
