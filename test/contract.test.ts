import * as fs from 'fs';
import * as path from 'path';
import labContract from '../pyspark/s8s_churn/lab_contract.json';
import { CONTRACT_FILE, DATASET_ID, MODEL_METADATA_PATTERN, PREDICTIONS_TABLE, SCORING_DAG_ID } from '../lib/contract';
import { packageEntries } from '../lib/archive';

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

// The code of the stack, the preflight, the jobs and the local lab. The DAGs are not yet among them:
// they still write these names themselves (docs/notes.md, issue 19 milestone 3).
const CODE = [
  'main.ts', ...codeFiles('lib', /\.ts$/), ...codeFiles('preflight', /\.ts$/),
  ...codeFiles('pyspark', /\.py$/), ...codeFiles('local', /\.(py|ts)$/),
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
});
