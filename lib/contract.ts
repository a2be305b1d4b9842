/**
 * Facts shared with the Python side, read from the files the Python code reads too.
 *
 * - pyspark/s8s_churn/lab_contract.json: names both sides use (dataset, tables, model path and version
 *   pattern, the jobs' archive, DAG ids); the jobs read it from their package, the DAGs beside them.
 * - pyspark/s8s_churn/table_schemas.json: the lab's BigQuery tables (the job's outputs and run rows, the model registry).
 * - airflow/variables.json: the Airflow variables the DAGs read.
 */
import airflowVariables from '../airflow/variables.json';
import labContract from '../pyspark/s8s_churn/lab_contract.json';
import tableSchemas from '../pyspark/s8s_churn/table_schemas.json';

/** The contract file, relative to the repository: shipped in the jobs' archive and beside the DAGs. */
export const CONTRACT_FILE = 'pyspark/s8s_churn/lab_contract.json';

export interface BigQueryColumn {
  readonly name: string;
  readonly type: string;
  readonly mode: string;
  readonly description: string;
  /** The nested columns of a RECORD. */
  readonly fields?: readonly BigQueryColumn[];
}

/** Fixed by the lab: the seed's query reads `customer_churn_ds.batch_predictions`. */
export const DATASET_ID = labContract.dataset_id;
export const PREDICTIONS_TABLE = labContract.tables.predictions;
export const REJECTS_TABLE = labContract.tables.rejects;
export const RUNS_TABLE = labContract.tables.runs;
export const MODEL_VERSIONS_TABLE = labContract.tables.registry;
export const DRIFT_TABLE = labContract.tables.drift;

/** The native tables the scoring job writes, one set of rows (or one row) per pipeline_id. */
export const JOB_TABLES: readonly string[] = [PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE, DRIFT_TABLE];

/**
 * Each model version's metadata file, relative to the models bucket: pyspark/s8s_churn/registry.py
 * writes `<models root>/<version>/metadata.json` under the DAG's `gs://<models bucket>/churn-model`,
 * and model_versions reads them all (the Spark suite checks the three agree).
 */
export const MODEL_METADATA_PATTERN = `${labContract.models_prefix}/*/${labContract.model_metadata_file}`;

/** A model version's name (the registry's folder), and what the scoring DAG accepts besides: `latest`. */
export const MODEL_VERSION_PATTERN = labContract.model_version_pattern;
export const LATEST_VERSION = labContract.latest_version;

/** The jobs' package archive (lib/archive.ts), beside the entry points in the code bucket. */
export const JOBS_ARCHIVE = labContract.jobs_archive;

/** DAG ids, as the DAG files define them from this same contract. */
export const SCORING_DAG_ID = labContract.dag_ids.scoring;
export const TRAINING_DAG_ID = labContract.dag_ids.training;

export const TABLE_SCHEMAS: Readonly<Record<string, readonly BigQueryColumn[]>> = {
  [PREDICTIONS_TABLE]: tableSchemas.batch_predictions,
  [REJECTS_TABLE]: tableSchemas.batch_rejects,
  [RUNS_TABLE]: tableSchemas.batch_runs,
  [MODEL_VERSIONS_TABLE]: tableSchemas.model_versions,
  [DRIFT_TABLE]: tableSchemas.batch_drift,
};

/** Airflow variable names the DAGs read, each with what it holds. */
export const AIRFLOW_VARIABLES: Readonly<Record<string, string>> = airflowVariables.variables;

/**
 * The variables the DAGs read with a default (`var.value.get(name, '')`). The stack sets them only
 * when they have a value: how Composer treats an empty environment variable is not documented, and
 * the provider reports a diff for empty ones on every plan (hashicorp/terraform-provider-google#5401).
 */
export const OPTIONAL_AIRFLOW_VARIABLES: readonly string[] = airflowVariables.optional;

/** The value the stack gives a variable the deployer does not choose (the drift check's PSI thresholds). */
export const AIRFLOW_VARIABLE_DEFAULTS: Readonly<Record<string, string>> = airflowVariables.defaults;
