import { Construct } from 'constructs';
import { TerraformOutput } from 'cdktf';
import { LabConfig } from './config';
import { DATASET_ID, LATEST_VERSION, PREDICTIONS_TABLE, SCORING_DAG_ID, TRAINING_DAG_ID } from './contract';
import { LabNames } from './names';
import { Composer } from './composer';
import { HistoryServer } from './history';
import { LabBucket } from './storage';

export interface LabOutputsProps {
  readonly config: LabConfig;
  readonly names: LabNames;
  readonly composer: Composer;
  readonly history: HistoryServer;
  readonly buckets: Readonly<Record<string, LabBucket>>;
}

/**
 * What `cdktf deploy` prints at the end: where the UIs are, the buckets, and the commands and the
 * query of the README's walkthrough (trigger, then verify), filled in for this deployment.
 */
export function labOutputs(scope: Construct, props: LabOutputsProps): void {
  const { config, names } = props;
  const { projectId, region } = config;
  const out = (name: string, value: string, description: string) =>
    new TerraformOutput(scope, name, { value, description });
  out('airflow_ui', props.composer.airflowUri, 'Airflow web UI of the Composer environment');
  out('dag_folder', props.composer.dagGcsPrefix, 'Where the DAG files live');
  out('history_server_ui', props.history.uiUrl, 'Spark History Server UI (component gateway)');
  for (const [purpose, bucket] of Object.entries(props.buckets)) {
    out(`bucket_${purpose}`, `gs://${bucket.bucket.name}`, `The lab's ${purpose} bucket`);
  }
  out(
    'results_query',
    `SELECT * FROM \`${projectId}.${DATASET_ID}.${PREDICTIONS_TABLE}\` WHERE pipeline_id = 'PIPELINE_ID'`,
    'BigQuery query for one scoring run; the DAG log prints it with the run\'s pipeline_id',
  );
  const gcloudRun = `gcloud composer environments run ${names.composerEnvironment} --project ${projectId} --location ${region} dags trigger --`;
  out('train_command', `${gcloudRun} ${TRAINING_DAG_ID}`, 'Trains and registers a new model version');
  out(
    'score_command',
    `${gcloudRun} ${SCORING_DAG_ID} --conf '{"model_version": "${LATEST_VERSION}"}'`,
    'Scores the sample input; replace latest with a model version to pin one',
  );
}
