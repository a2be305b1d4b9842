/**
 * customer_churn_ds as the scoring job and the model registry fill it: the job's native tables
 * (batch_runs among them) and model_versions, an external table over the registry's files.
 */
import tableSchemas from '../pyspark/s8s_churn/table_schemas.json';
import deployedSchemas from './deployed-table-schemas.json';
import {
  BigQueryColumn, DRIFT_TABLE, JOB_TABLES, MODEL_METADATA_PATTERN, MODEL_VERSIONS_TABLE, PREDICTIONS_TABLE, RUNS_TABLE,
  TABLE_SCHEMAS,
} from '../lib/contract';
import { bucketPurposes, Json, refId, resourcesOf, synthLab } from './helpers';

const stack = synthLab();
const tables: Record<string, Json> = Object.fromEntries(
  Object.values(resourcesOf(stack, 'google_bigquery_table')).map((t) => [t.table_id, t]),
);

test('every table of table_schemas.json exists, with that schema', () => {
  const defined = Object.keys(tableSchemas).filter((k) => !k.startsWith('_')).sort();
  expect(Object.keys(TABLE_SCHEMAS).sort()).toEqual(defined);
  expect(Object.keys(tables).sort()).toEqual(defined);
  for (const id of JOB_TABLES) expect(JSON.parse(tables[id].schema)).toEqual(TABLE_SCHEMAS[id]);
  expect(JSON.parse(tables[MODEL_VERSIONS_TABLE].external_data_configuration.schema)).toEqual(TABLE_SCHEMAS[MODEL_VERSIONS_TABLE]);
});

test('batch_runs is a native table with the columns the check task reconciles, one partition per run date', () => {
  const runs = tables[RUNS_TABLE];
  expect(runs.external_data_configuration).toBeUndefined();
  expect(runs).toMatchObject({
    time_partitioning: { type: 'DAY', field: 'pipeline_execution_dt' }, clustering: ['pipeline_id'], deletion_protection: false,
  });
  expect(TABLE_SCHEMAS[RUNS_TABLE].map((c) => `${c.name} ${c.type}`)).toEqual([
    'pipeline_id STRING', 'batch_id STRING', 'model_version STRING', 'input_uri STRING',
    'read INT64', 'scored INT64', 'rejected INT64',
    'started_at TIMESTAMP', 'ended_at TIMESTAMP', 'pipeline_execution_dt TIMESTAMP', 'drift_status STRING',
  ]);
  for (const c of TABLE_SCHEMAS[RUNS_TABLE]) expect(c.mode).toBe('NULLABLE');
});

test('model_versions reads every metadata.json of the models bucket as strict newline-delimited JSON', () => {
  const mv = tables[MODEL_VERSIONS_TABLE];
  expect(mv.time_partitioning).toBeUndefined();
  expect(mv.schema).toBeUndefined();
  expect(mv.deletion_protection).toBe(false);
  const ext = mv.external_data_configuration;
  expect(ext).toMatchObject({
    source_format: 'NEWLINE_DELIMITED_JSON', autodetect: false, ignore_unknown_values: false, max_bad_records: 0,
  });
  expect(ext.source_uris).toHaveLength(1);
  const [uri] = ext.source_uris as string[];
  // BigQuery allows one '*' per Cloud Storage URI, after the bucket name.
  expect(uri.split('*')).toHaveLength(2);
  const bucketRef = /^gs:\/\/(\$\{[^}]+\})\/(.*)$/.exec(uri);
  expect(bucketRef).not.toBeNull();
  expect(bucketPurposes(stack)[refId(bucketRef![1])]).toBe('models');
  expect(bucketRef![2]).toBe(MODEL_METADATA_PATTERN);
  expect(MODEL_METADATA_PATTERN).toBe('churn-model/*/metadata.json');
  // The DAG registers and scores under the same folder of the models bucket: it reads the prefix
  // from the same contract, and test/python/airflow/test_execute.py asserts the --models-root its
  // batch request sends.
  const columns = TABLE_SCHEMAS[MODEL_VERSIONS_TABLE].map((c) => c.name);
  expect(columns).toEqual(expect.arrayContaining(['version', 'trained_at', 'input', 'metrics']));
  const metrics = TABLE_SCHEMAS[MODEL_VERSIONS_TABLE].find((c) => c.name === 'metrics')!;
  expect(metrics.type).toBe('RECORD');
  expect(metrics.fields!.map((f) => f.name)).toEqual(['auc', 'accuracy', 'precision', 'recall', 'test_rows']);
});

/**
 * What the provider does with a schema change of a deployed native table: in place when every old
 * column keeps its name, type and mode (REQUIRED -> NULLABLE aside) and added ones are not
 * REQUIRED; otherwise it replaces the table and its rows are gone
 * (resourceBigQueryTableSchemaIsChangeable, terraform-provider-google 6.x bigquery_table).
 */
function replacesTable(before: readonly BigQueryColumn[], after: readonly BigQueryColumn[]): string[] {
  const problems: string[] = [];
  const now = new Map(after.map((c) => [c.name, c]));
  for (const old of before) {
    const c = now.get(old.name);
    if (!c) { problems.push(`${old.name} removed`); continue; }
    if (c.type !== old.type) problems.push(`${old.name} ${old.type} -> ${c.type}`);
    if ((c.mode ?? 'NULLABLE') !== (old.mode ?? 'NULLABLE')) problems.push(`${old.name} mode ${old.mode} -> ${c.mode}`);
    if (old.fields) problems.push(...replacesTable(old.fields, c.fields ?? []).map((p) => `${old.name}.${p}`));
  }
  for (const c of after) if (!before.some((o) => o.name === c.name) && c.mode === 'REQUIRED') problems.push(`${c.name} added as REQUIRED`);
  return problems;
}

test('a deployed lab keeps its native tables: their synthesized schemas only append NULLABLE columns', () => {
  const deployed = deployedSchemas as unknown as Record<string, BigQueryColumn[]>;
  for (const id of JOB_TABLES.filter((t) => t in deployed)) {
    const now = JSON.parse(tables[id].schema) as BigQueryColumn[];
    expect([id, replacesTable(deployed[id], now)]).toEqual([id, []]);
    // Appended, in order: the deployed columns are a prefix of today's.
    expect(now.slice(0, deployed[id].length).map((c) => c.name)).toEqual(deployed[id].map((c) => c.name));
  }
  // The test itself: a type change or a removal would be caught.
  expect(replacesTable([{ name: 'a', type: 'STRING', mode: 'NULLABLE', description: '' }], [])).toEqual(['a removed']);
  expect(replacesTable(
    [{ name: 'a', type: 'STRING', mode: 'NULLABLE', description: '' }], [{ name: 'a', type: 'INT64', mode: 'NULLABLE', description: '' }],
  )).toEqual(['a STRING -> INT64']);
  const added = JSON.parse(tables[PREDICTIONS_TABLE].schema).slice(deployed[PREDICTIONS_TABLE].length).map((c: BigQueryColumn) => c.name);
  expect(added).toEqual(['churn_logit', 'reason_1', 'reason_2', 'reason_3', 'reasons_note']);
  // batch_drift is new: created, not replacing anything.
  expect(deployed[DRIFT_TABLE]).toBeUndefined();
  expect(tables[DRIFT_TABLE]).toMatchObject({
    time_partitioning: { type: 'DAY', field: 'pipeline_execution_dt' }, clustering: ['pipeline_id'], deletion_protection: false,
  });
});

test('the reasons are three nullable records, not a repeated one: a Parquet load needs no list inference', () => {
  const cols = JSON.parse(tables[PREDICTIONS_TABLE].schema) as BigQueryColumn[];
  for (const name of ['reason_1', 'reason_2', 'reason_3']) {
    const c = cols.find((x) => x.name === name)!;
    expect([c.type, c.mode, c.fields!.map((f) => `${f.name} ${f.type}`)]).toEqual([
      'RECORD', 'NULLABLE', ['feature STRING', 'value STRING', 'contribution FLOAT64'],
    ]);
  }
  for (const id of JOB_TABLES) expect(JSON.stringify(TABLE_SCHEMAS[id])).not.toContain('REPEATED');
});
