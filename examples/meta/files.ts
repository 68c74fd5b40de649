/**
 * Node file helpers for `tp.meta.MetaTeleporter` (the library itself imports no Node built-ins):
 * `<base>.json` holds the configuration and the weight specs, `<base>.weights.bin` the weights.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tpMeta from '../../src/meta.js';

/** Saves to `<base>.json` + `<base>.weights.bin`; returns both paths. */
export async function saveMetaTeleporter(mt: tpMeta.MetaTeleporter, base: string): Promise<string[]> {
  const json = `${base}.json`;
  const bin = `${base}.weights.bin`;
  await mt.save(
    tf.io.withSaveHandler(async artifacts => {
      const data = artifacts.weightData;
      const buffer = data instanceof ArrayBuffer ? data : tf.io.concatenateArrayBuffers(data as ArrayBuffer[]);
      writeFileSync(bin, Buffer.from(buffer));
      const { weightData: _, ...rest } = artifacts;
      writeFileSync(json, JSON.stringify({ ...rest, weightsFile: basename(bin) }, null, 1));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: buffer.byteLength } };
    }),
  );
  return [json, bin];
}

/** Loads what {@link saveMetaTeleporter} wrote (give the `.json` path). */
export async function loadMetaTeleporter(jsonPath: string): Promise<tpMeta.MetaTeleporter> {
  const meta = JSON.parse(readFileSync(jsonPath, 'utf8')) as tf.io.ModelArtifacts & { weightsFile: string };
  const binPath = jsonPath.replace(/\.json$/, '.weights.bin');
  const bytes = readFileSync(binPath);
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const { weightsFile: _, ...artifacts } = meta;
  return tpMeta.MetaTeleporter.load(tf.io.fromMemory({ ...artifacts, weightData }));
}
