/**
 * Facts shared with the Python side, read from the files the Python code reads too.
 *
 * - pyspark/table_schemas.json: the BigQuery tables the scoring job writes.
 * - airflow/variables.json: the Airflow variables the DAGs read.
 */
import airflowVariables from '../airflow/variables.json';
import tableSchemas from '../pyspark/table_schemas.json';

export interface BigQueryColumn {
  readonly name: string;
  readonly type: string;
  readonly mode: string;
  readonly description: string;
}

export const PREDICTIONS_TABLE = 'batch_predictions';
export const REJECTS_TABLE = 'batch_rejects';

export const TABLE_SCHEMAS: Readonly<Record<string, readonly BigQueryColumn[]>> = {
  [PREDICTIONS_TABLE]: tableSchemas.batch_predictions,
  [REJECTS_TABLE]: tableSchemas.batch_rejects,
};

/** Airflow variable names the DAGs read, each with what it holds. */
export const AIRFLOW_VARIABLES: Readonly<Record<string, string>> = airflowVariables.variables;
