import * as fs from 'fs';
import * as path from 'path';
import labContract from '../pyspark/s8s_churn/lab_contract.json';
import { CONTRACT_FILE, DATASET_ID, MODEL_METADATA_PATTERN, PREDICTIONS_TABLE, SCORING_DAG_ID } from '../lib/contract';
import { packageEntries } from '../lib/archive';
import { Testing } from 'cdktf';
import { loadConfig } from '../lib/config';
import { LabStack } from '../lib/stack';
import { Uploads } from '../lib/assets';
import { bucketPurposes, DEMO_ENV, refId, resourcesOf } from './helpers';

const REPO = path.resolve(__dirname, '..');

/** Every value of the contract file (not its comment), as text. */
function values(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (node && typeof node === 'object') {
    return Object.entries(node).filter(([k]) => !k.startsWith('_')).flatMap(([, v]) => values(v));
  }
  return [];
}

function codeFiles(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory() && !['__pycache__', 'node_modules'].includes(e.name)) out.push(...codeFiles(rel, ext));
    if (e.isFile() && ext.test(e.name)) out.push(rel);
  }
  return out;
}

// The code of the stack, the preflight, the jobs, the DAGs and the local lab.
const CODE = [
  'main.ts', ...codeFiles('lib', /\.ts$/), ...codeFiles('preflight', /\.ts$/),
  ...codeFiles('pyspark', /\.py$/), ...codeFiles('airflow', /\.py$/), ...codeFiles('local', /\.(py|ts)$/),
];

describe('the contract file both languages read', () => {
  test('no code writes one of its values as a string literal of its own', () => {
    const found: string[] = [];
    for (const file of CODE) {
      // Comments may name them (a line starting with //, * or #); code may not.
      const text = fs
        .readFileSync(path.join(REPO, file), 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(\/\/|\*|\/\*|#)/.test(line))
        .join('\n');
      for (const value of values(labContract)) {
        const quotes = file.endsWith('.ts') ? '[\'"`]' : '[\'"]'; // Python's backticks are prose
        const literal = new RegExp(`(${quotes})${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\1`);
        if (literal.test(text)) found.push(`${file}: ${value}`);
      }
    }
    expect(found).toEqual([]);
  });

  test('the stack reads it (lib/contract.ts), the jobs read it from their package, and it ships in their archive', () => {
    expect([DATASET_ID, PREDICTIONS_TABLE, SCORING_DAG_ID]).toEqual([
      labContract.dataset_id, labContract.tables.predictions, labContract.dag_ids.scoring,
    ]);
    expect(MODEL_METADATA_PATTERN).toBe(`${labContract.models_prefix}/*/${labContract.model_metadata_file}`);
    const jobs = fs.readFileSync(path.join(REPO, 'pyspark/s8s_churn/contract.py'), 'utf8');
    expect(jobs).toMatch(/CONTRACT_FILE = "lab_contract\.json"/);
    expect(jobs).toMatch(/resources\.files\(__package__\)\.joinpath\(CONTRACT_FILE\)/);
    expect(packageEntries(path.join(REPO, 'pyspark/s8s_churn')).map((e) => e.name)).toContain(
      `s8s_churn/${path.basename(CONTRACT_FILE)}`,
    );
  });

  test('the DAGs read it beside them: the stack uploads the contract itself into the DAG folder', () => {
    const app = Testing.app();
    const lab = new LabStack(app, 's8s-scoring-lab', loadConfig(DEMO_ENV));
    const synthesized = JSON.parse(Testing.synth(lab));
    const uploads = lab.node.findChild('uploads') as Uploads;
    const object = Object.values(resourcesOf(synthesized, 'google_storage_bucket_object')).find(
      (o) => o.name === `dags/${path.basename(CONTRACT_FILE)}`,
    );
    expect(bucketPurposes(synthesized)[refId(object?.bucket)]).toBe('composer');
    // The uploaded file is the contract (airflow/dags/lab_contract.json links to it), not a copy.
    expect(fs.realpathSync(uploads.localFiles[object?.name])).toBe(fs.realpathSync(path.join(REPO, CONTRACT_FILE)));
    const common = fs.readFileSync(path.join(REPO, 'airflow/dags/s8s_common.py'), 'utf8');
    expect(common).toMatch(/Path\(__file__\)\.with_name\("lab_contract\.json"\)/);
  });
});
