/**
 * Destroy-safety and least privilege, over the synthesized stack.
 */
import * as fs from 'fs';
import * as path from 'path';
import reviewed from './iam-bindings.reviewed.json';
import { ROLE_REACH } from '../lib/identity';
import { bucketPurposes, Json, refId, resourcesOf, single, synthLab } from './helpers';

const REPO = path.resolve(__dirname, '..');
const stack = synthLab();

describe('destroy leaves nothing billing', () => {
  test('every bucket is force_destroy', () => {
    const buckets = Object.values(resourcesOf(stack, 'google_storage_bucket'));
    expect(buckets.length).toBe(6);
    for (const b of buckets) expect(b.force_destroy).toBe(true);
  });

  test('soft delete is off on every bucket: deleted objects would bill for 7 more days (lib/storage.ts)', () => {
    const buckets = Object.values(resourcesOf(stack, 'google_storage_bucket'));
    expect(buckets.map((b) => b.labels.purpose).sort()).toEqual(['code', 'composer', 'data', 'models', 'phs', 'spark']);
    for (const b of buckets) expect(b.soft_delete_policy).toEqual({ retention_duration_seconds: 0 });
  });

  test('every dataset deletes its contents and no table keeps deletion protection', () => {
    for (const d of Object.values(resourcesOf(stack, 'google_bigquery_dataset'))) expect(d.delete_contents_on_destroy).toBe(true);
    const tables = Object.values(resourcesOf(stack, 'google_bigquery_table'));
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) expect(t.deletion_protection).toBe(false);
  });

  test('no API is disabled on destroy', () => {
    for (const s of Object.values(resourcesOf(stack, 'google_project_service'))) expect(s.disable_on_destroy).toBe(false);
  });

  test('nothing Google would create on the lab\'s behalf is left to it', () => {
    const purposes = bucketPurposes(stack);
    const env = single(stack, 'google_composer_environment');
    expect(purposes[refId(env.storage_config.bucket)]).toBe('composer');
    const cfg = single(stack, 'google_dataproc_cluster').cluster_config;
    expect(purposes[refId(cfg.staging_bucket)]).toBe('spark');
    expect(purposes[refId(cfg.temp_bucket)]).toBe('spark');
    // Batches stage in the lab's spark bucket (the DAGs read spark_bucket for staging_bucket).
    const sparkBucket = Object.values(resourcesOf(stack, 'google_storage_bucket')).find((b) => b.labels.purpose === 'spark')!;
    expect(env.config.software_config.env_variables.AIRFLOW_VAR_SPARK_BUCKET).toBe(sparkBucket.name);
    expect(fs.readFileSync(path.join(REPO, 'airflow/dags/s8s_common.py'), 'utf-8')).toContain(
      '"staging_bucket": "{{ var.value.spark_bucket }}"',
    );
  });

  test('docs/walkthrough.md\'s "what destroy removes" table lists exactly the resources', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs/walkthrough.md'), 'utf-8');
    const block = /<!-- destroy-list:start -->([\s\S]*?)<!-- destroy-list:end -->/.exec(doc);
    expect(block).not.toBeNull();
    const listed: Record<string, number> = {};
    for (const m of block![1].matchAll(/^\|\s*`([a-z]+_[a-z_]+)`\s*\|\s*(\d+)\s*\|/gm)) listed[m[1]] = Number(m[2]);
    const actual = Object.fromEntries(Object.entries(stack.resource as Json).map(([t, rs]) => [t, Object.keys(rs).length]));
    expect(listed).toEqual(actual);
  });
});

/** [principal, role, scope] for every IAM binding in the stack. */
function bindings(s: Json): string[][] {
  const accounts = resourcesOf(s, 'google_service_account');
  const principalOf = (member: string): string => {
    const m = /^serviceAccount:\$\{google_service_account\.([^.]+)\.email\}$/.exec(member);
    if (!m) throw new Error(`unexpected member ${member}`);
    return accounts[m[1]].account_id.replace(/^s8s-/, '').replace(/-sa$/, '');
  };
  const purposes = bucketPurposes(s);
  const out: string[][] = [];
  for (const b of Object.values(resourcesOf(s, 'google_project_iam_member'))) out.push([principalOf(b.member), b.role, 'project']);
  for (const b of Object.values(resourcesOf(s, 'google_storage_bucket_iam_member'))) {
    out.push([principalOf(b.member), b.role, `bucket:${purposes[refId(b.bucket)]}`]);
  }
  for (const b of Object.values(resourcesOf(s, 'google_bigquery_dataset_iam_member'))) {
    const dataset = Object.values(resourcesOf(s, 'google_bigquery_dataset'))[0];
    expect(refId(b.dataset_id)).toBe(Object.keys(resourcesOf(s, 'google_bigquery_dataset'))[0]);
    out.push([principalOf(b.member), b.role, `dataset:${dataset.dataset_id}`]);
  }
  for (const b of Object.values(resourcesOf(s, 'google_service_account_iam_member'))) {
    const target = accounts[/google_service_account\.([^.]+)\.name/.exec(b.service_account_id)![1]];
    out.push([principalOf(b.member), b.role, `service-account:${target.account_id.replace(/^s8s-/, '').replace(/-sa$/, '')}`]);
  }
  for (const t of Object.keys(s.resource)) {
    if (/iam_(binding|policy)$/.test(t)) throw new Error(`${t} replaces bindings others made; use *_iam_member`);
  }
  return out.sort();
}

describe('least privilege', () => {
  const actual = bindings(stack);

  test('the bindings are exactly the reviewed list', () => {
    expect(actual).toEqual([...reviewed.bindings].sort());
  });

  test('no primitive, admin or owner-like role anywhere', () => {
    for (const [, role] of actual) {
      expect(role).not.toMatch(/^roles\/(owner|editor|viewer)$/);
      expect(role).not.toMatch(/admin/i);
    }
  });

  test('storage and BigQuery data roles are scoped to a bucket or the dataset, never the project', () => {
    for (const [, role, scope] of actual) {
      if (/^roles\/storage\./.test(role)) expect(scope).toMatch(/^bucket:/);
      if (/^roles\/bigquery\.data/.test(role)) expect(scope).toMatch(/^dataset:/);
    }
  });

  test('every granted role says what it really allows, and nothing else is described', () => {
    expect(Object.keys(ROLE_REACH).sort()).toEqual([...new Set(actual.map(([, role]) => role))].sort());
  });

  test('docs/iam.md\'s roles table lists exactly the bindings, with what each role allows', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs/iam.md'), 'utf-8');
    const block = /<!-- iam-table:start -->([\s\S]*?)<!-- iam-table:end -->/.exec(doc);
    expect(block).not.toBeNull();
    const rows = [...block![1].matchAll(/^\|\s*`s8s-([a-z]+)-sa`\s*\|\s*`(roles\/[A-Za-z.]+)`\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|$/gm)]
      .map((m) => [m[1], m[2], m[3], m[4]]);
    const scopeText = (scope: string) => scope.replace(/^bucket:(.+)$/, 'bucket `s8s-<project>-$1`')
      .replace(/^dataset:(.+)$/, 'dataset `$1`').replace(/^service-account:(.+)$/, 'account `s8s-$1-sa`');
    expect(rows.sort()).toEqual(actual.map(([who, role, scope]) => [who, role, scopeText(scope), ROLE_REACH[role]]).sort());
  });

  test('ActAs is granted on two accounts, never the project: lab on spark (batches) and lab on itself (Composer)', () => {
    const actAs = actual.filter(([, role]) => role === 'roles/iam.serviceAccountUser');
    expect(actAs).toEqual([
      ['lab', 'roles/iam.serviceAccountUser', 'service-account:lab'],
      ['lab', 'roles/iam.serviceAccountUser', 'service-account:spark'],
    ]);
  });
});
