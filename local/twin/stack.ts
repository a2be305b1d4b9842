/**
 * Prints what the stack synthesizes for the cloud twin (local/twin/deploy.py): the BigQuery dataset and
 * tables, the buckets, the bucket objects with their local files, and the outputs, as JSON on stdout. The twin creates its objects from this,
 * so the emulated BigQuery has the tables `cdktf deploy` would create, not a copy of them.
 *   node_modules/.bin/ts-node --transpile-only local/twin/stack.ts <project-id>
 */
import { Testing } from 'cdktf';
import { loadConfig } from '../../lib/config';
import { LabStack } from '../../lib/stack';
import { Uploads } from '../../lib/assets';

const project = process.argv[2];
if (!project) {
  console.error('usage: local/twin/stack.ts <project-id>');
  process.exit(2);
}
const stack = new LabStack(Testing.app(), 's8s-scoring-lab', loadConfig({ GOOGLE_CLOUD_PROJECT: project }));
const synth = JSON.parse(Testing.synth(stack));
const keep = ['google_bigquery_dataset', 'google_bigquery_table', 'google_storage_bucket', 'google_storage_bucket_object'];
const resources = Object.fromEntries(keep.map((type) => [type, synth.resource?.[type] ?? {}]));
const outputs = Object.fromEntries(Object.entries(synth.output ?? {}).map(([name, o]) => [name, (o as { value: unknown }).value]));
// Each bucket object's local file (the synthesized `source` is an asset path inside cdktf.out).
const files = Object.assign({}, ...stack.node.findAll().filter((c): c is Uploads => c instanceof Uploads).map((u) => u.localFiles));
process.stdout.write(JSON.stringify({ resources, outputs, files }, null, 1));
