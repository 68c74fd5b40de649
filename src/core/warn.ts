/**
 * Warnings without Node built-ins: `process.emitWarning` where it exists (Node, once per message),
 * `console.warn` elsewhere (browsers). `src/` must bundle for the browser, so `process` is only read
 * through `globalThis`.
 */
const seen = new Set<string>();

export function warn(message: string): void {
  if (seen.has(message)) return;
  seen.add(message);
  const proc = (globalThis as { process?: { emitWarning?: (m: string) => void } }).process;
  if (typeof proc?.emitWarning === 'function') proc.emitWarning(message);
  else console.warn(message);
}
