import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** A parsed IDX file (the MNIST format): unsigned bytes with their dimensions. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parses IDX bytes (big-endian header: two zero bytes, type 0x08 = unsigned byte, number of dimensions,
 * then one uint32 per dimension), gzipped or not. Errors name the file and what is wrong.
 */
export function parseIdx(bytes: Uint8Array, file = 'IDX data'): IdxArray {
  let buf = bytes;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = new Uint8Array(gunzipSync(buf));
    } catch (e) {
      throw new Error(`${file}: looks gzipped but does not decompress (${(e as Error).message}); the file may be truncated`);
    }
  }
  if (buf.length < 4) throw new Error(`${file}: too short for an IDX header (${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) {
    const magic = Array.from(buf.subarray(0, 4), b => b.toString(16).padStart(2, '0')).join('');
    throw new Error(`${file}: bad magic number 0x${magic}; expected 0x00000801 (labels) or 0x00000803 (images) of unsigned bytes`);
  }
  const rank = buf[3];
  if (rank < 1 || rank > 4) throw new Error(`${file}: unsupported number of dimensions ${rank}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4 + 4 * rank) throw new Error(`${file}: header truncated`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * rank;
  if (buf.length - offset !== expected) {
    throw new Error(`${file}: dimensions [${dims.join(', ')}] need ${expected} data bytes but the file has ${buf.length - offset}${buf.length - offset < expected ? ' (truncated?)' : ''}`);
  }
  return { dims, data: buf.subarray(offset) };
}

/** Reads and parses an IDX file from disk. */
export function readIdx(path: string): IdxArray {
  return parseIdx(new Uint8Array(readFileSync(path)), path);
}
