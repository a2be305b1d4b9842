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

/** Every resource address in the stack: `type.logicalId`, and `data.type.logicalId` for data sources. */
export function addresses(stack: Json): Set<string> {
  const out = new Set<string>();
  for (const [prefix, block] of [['', stack.resource], ['data.', stack.data]] as Array<[string, Json | undefined]>) {
    for (const [type, byId] of Object.entries(block ?? {})) {
      for (const id of Object.keys(byId as Json)) out.add(`${prefix}${type}.${id}`);
    }
  }
  return out;
}

function bodyOf(stack: Json, address: string): Json {
  const [type, id] = address.startsWith('data.') ? address.slice(5).split('.') : address.split('.');
  const body = (address.startsWith('data.') ? stack.data : stack.resource)?.[type]?.[id];
  if (body === undefined) throw new Error(`no resource ${address} in the stack`);
  return body;
}

/**
 * What Terraform makes a resource wait for: its explicit depends_on plus every resource its
 * arguments reference in a `${...}` expression (the "//" comment block is not an argument).
 */
export function directDependencies(stack: Json, address: string): Set<string> {
  const known = addresses(stack);
  const { depends_on: dependsOn = [], '//': _comment, ...args } = bodyOf(stack, address);
  const out = new Set<string>(dependsOn as string[]);
  const text = JSON.stringify(args);
  for (const expr of text.matchAll(/\$\{([^}]*)\}/g)) {
    for (const ref of expr[1].matchAll(/(?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z0-9_-]+/g)) {
      if (known.has(ref[0])) out.add(ref[0]);
    }
  }
  for (const d of out) if (!known.has(d)) throw new Error(`${address} depends on unknown ${d}`);
  return out;
}

/** Everything a resource waits for before Terraform creates it, transitively. */
export function waitsFor(stack: Json, address: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...directDependencies(stack, address)];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...directDependencies(stack, next));
  }
  return seen;
}

/**
 * "type logical-id-without-hash" of a resource, e.g. "google_service_account identity_lab-sa", for
 * readable assertions (Testing.synth drops the construct-path metadata; logical ids carry the path).
 */
export function describeAddress(address: string): string {
  const parts = address.split('.');
  const id = parts.pop()!;
  return `${parts.join('.')} ${id.replace(/_[0-9A-F]{8}$/, '')}`;
}

/** Address of the only resource with this description (see describeAddress). */
export function addressOf(stack: Json, description: string): string {
  const found = [...addresses(stack)].filter((a) => describeAddress(a) === description);
  if (found.length !== 1) throw new Error(`expected one resource "${description}", found ${found.length}`);
  return found[0];
}
