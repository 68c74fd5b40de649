import type { TeleportReport } from './report.js';
import type { TeleportErrorKind } from './types.js';

export type { RejectionKind, TeleportErrorKind } from './types.js';

/** Every error this package throws on purpose. The weights are as they were before. */
export class TeleportError extends Error {
  constructor(
    message: string,
    readonly kind: TeleportErrorKind = 'bad-option',
    readonly report?: TeleportReport,
  ) {
    super(message.startsWith('tfjs-teleport:') ? message : `tfjs-teleport: ${message}`);
    this.name = 'TeleportError';
  }
}

/** A layer, activation or model shape that the chosen group cannot act on; the message names the fix. */
export class UnsupportedLayerError extends TeleportError {
  constructor(message: string) {
    super(message, 'unsupported');
    this.name = 'UnsupportedLayerError';
  }
}

/**
 * The group fits the model's layers but has no orbit to move along at the current weights (group 'split'
 * when no units are duplicates any more). Weights depend on training, so a scheduled teleport that meets
 * this is skipped with a report (rejection 'no-orbit') instead of stopping `fit`.
 */
export class NoOrbitError extends TeleportError {
  constructor(message: string) {
    super(message, 'no-orbit');
    this.name = 'NoOrbitError';
  }
}

/** Shorthand for a malformed option: `badOption('lr must be positive, got -1')`. */
export function badOption(message: string): TeleportError {
  return new TeleportError(message, 'bad-option');
}

/** Formats a value for an error message: numbers as JS prints them (Infinity, NaN), the rest as JSON. */
export function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || v === undefined) return String(v);
  if (typeof v === 'function') return 'a function';
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
