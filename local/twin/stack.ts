/**
 * Synthesizes the stack for the cloud twin's project as `cdktf synth` does (an App writing
 * cdktf.out/stacks/<stack>/cdk.tf.json with its assets copied beside it), then prints what the
 * twin is deployed from as JSON on stdout: every resource block, the outputs, and the folder
 * Terraform would run in (a google_storage_bucket_object's `source` is relative to it).
 *   node_modules/.bin/ts-node --transpile-only local/twin/stack.ts <project-id> <outdir>
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdktf';
import { loadConfig } from '../../lib/config';
import { LabStack } from '../../lib/stack';

const [project, outdir] = process.argv.slice(2);
if (!project || !outdir) {
  console.error('usage: stack.ts <project-id> <outdir>');
  process.exit(2);
}
const name = 's8s-scoring-lab';
fs.mkdirSync(path.resolve(outdir), { recursive: true });
const app = new App({ outdir: path.resolve(outdir) });
new LabStack(app, name, loadConfig({ GOOGLE_CLOUD_PROJECT: project }));
app.synth();
const workdir = path.join(path.resolve(outdir), 'stacks', name);
const synth = JSON.parse(fs.readFileSync(path.join(workdir, 'cdk.tf.json'), 'utf-8'));
const outputs = Object.fromEntries(Object.entries(synth.output ?? {}).map(([key, o]) => [key, (o as { value: unknown }).value]));
process.stdout.write(JSON.stringify({ resources: synth.resource ?? {}, outputs, workdir }, null, 1));
