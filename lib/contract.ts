/**
 * Facts shared with the Python side, read from the files the Python code reads too.
 *
 * - pyspark/s8s_churn/table_schemas.json: the lab's BigQuery tables (the job's outputs and run rows, the model registry).
 * - airflow/variables.json: the Airflow variables the DAGs read.
 */
import airflowVariables from '../airflow/variables.json';
import tableSchemas from '../pyspark/s8s_churn/table_schemas.json';

export interface BigQueryColumn {
  readonly name: string;
  readonly type: string;
  readonly mode: string;
  readonly description: string;
  /** The nested columns of a RECORD. */
  readonly fields?: readonly BigQueryColumn[];
}

export const PREDICTIONS_TABLE = 'batch_predictions';
export const REJECTS_TABLE = 'batch_rejects';
export const RUNS_TABLE = 'batch_runs';
export const MODEL_VERSIONS_TABLE = 'model_versions';
export const DRIFT_TABLE = 'batch_drift';

/** The native tables the scoring job writes, one set of rows (or one row) per pipeline_id. */
export const JOB_TABLES: readonly string[] = [PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE, DRIFT_TABLE];

/**
 * Each model version's metadata file, relative to the models bucket: pyspark/s8s_churn/registry.py
 * writes `<models root>/<version>/metadata.json` under the DAG's `gs://<models bucket>/churn-model`,
 * and model_versions reads them all (the Spark suite checks the three agree).
 */
export const MODEL_METADATA_PATTERN = 'churn-model/*/metadata.json';

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
