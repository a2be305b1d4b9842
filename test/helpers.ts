import { Testing } from 'cdktf';
import { loadConfig } from '../lib/config';
import { LabStack } from '../lib/stack';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export const DEMO_ENV = { GOOGLE_CLOUD_PROJECT: 'demo-proj' };

/** Synthesizes the whole lab for a configuration, as `cdktf synth` would, without terraform. */
export function synthLab(env: Record<string, string> = DEMO_ENV): Json {
  const app = Testing.app();
  const stack = new LabStack(app, 's8s-scoring-lab', loadConfig(env));
  return JSON.parse(Testing.synth(stack));
}

/** Resources of one type, by logical id. */
export function resourcesOf(stack: Json, type: string): Record<string, Json> {
  return stack.resource?.[type] ?? {};
}

/** The only resource of a type. */
export function single(stack: Json, type: string): Json {
  const all = Object.values(resourcesOf(stack, type));
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

/** Logical id of the resource a "${type.id.attr}" reference points to. */
export function refId(ref: string): string {
  const m = /^\$\{[a-z_]+\.([^.]+)\.[a-z_]+\}$/.exec(ref);
  if (!m) throw new Error(`not a plain reference: ${ref}`);
  return m[1];
}

/** Map from bucket logical id to its purpose label. */
export function bucketPurposes(stack: Json): Record<string, string> {
  return Object.fromEntries(
    Object.entries(resourcesOf(stack, 'google_storage_bucket')).map(([id, b]) => [id, b.labels.purpose]),
  );
}
