import { LabConfig } from './config';
import { AIRFLOW_VARIABLE_DEFAULTS, DATASET_ID } from './contract';
import { LabNames } from './names';
import { SPARK_RUNTIME_VERSION } from './versions';

/**
 * The value of every Airflow variable the DAGs read (airflow/variables.json names and describes
 * them; lib/composer.ts sets them as AIRFLOW_VAR_<NAME> and refuses a missing or unknown one).
 *
 * Names, not resource references: a reference would make the Composer environment wait for the
 * resource it names (a reference to the subnet made it wait for the whole network). The DAGs read
 * these only when a task runs, long after deploy; test/stack.test.ts checks each name against the
 * resource it names.
 */
export function airflowVariables(config: LabConfig, names: LabNames): Record<string, string> {
  return {
    project_id: config.projectId,
    region: config.region,
    subnet: names.subnetUri,
    phs_server: names.historyServer,
    container_image_uri: config.containerImage,
    bq_dataset: DATASET_ID,
    umsa_fqn: names.sparkAccountEmail,
    model_version: config.modelVersion,
    code_bucket: names.bucket('code'),
    data_bucket: names.bucket('data'),
    model_bucket: names.bucket('models'),
    spark_bucket: names.bucket('spark'),
    spark_runtime_version: SPARK_RUNTIME_VERSION,
    ...AIRFLOW_VARIABLE_DEFAULTS,
  };
}
