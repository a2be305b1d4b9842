import { Construct } from 'constructs';
import { Annotations, GcsBackend, TerraformOutput, TerraformStack } from 'cdktf';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TimeProvider } from '@cdktf/provider-time/lib/provider';
import { LabConfig } from './config';
import { DATASET_ID, LabNames, SPARK_RUNTIME_VERSION } from './names';
import { Services } from './services';
import { Network } from './network';
import { Identity } from './identity';
import { Storage } from './storage';
import { ResultsDataset } from './bigquery';
import { AIRFLOW_VARIABLE_DEFAULTS, LATEST_VERSION, PREDICTIONS_TABLE, SCORING_DAG_ID, TRAINING_DAG_ID } from './contract';
import { HistoryServer } from './history';
import { Composer } from './composer';
import { Uploads } from './assets';
import { BudgetAlert } from './budget';

/** DAG ids, from the contract the DAG files read too (test/python/airflow checks the outputs name them). */
export { SCORING_DAG_ID, TRAINING_DAG_ID } from './contract';

/**
 * The whole lab. Ordering: APIs, then accounts and grants, then Composer and the history
 * server side by side. Composer's ~25 minute creation is the critical path: it waits for the
 * APIs, its account, its grants and its own bucket, nothing else (its Airflow variables are
 * strings known at synth, not references to the network or the other buckets). The history
 * server's path alone waits for IAM propagation (lib/history.ts); test/stack.test.ts walks the
 * dependency graph to show both.
 */
export class LabStack extends TerraformStack {
  readonly names: LabNames;

  constructor(scope: Construct, id: string, config: LabConfig) {
    super(scope, id);
    const names = (this.names = new LabNames(config));
    const { projectId, region } = config;
    const labels = { lab: 's8s-scoring-lab', prefix: config.prefix };

    if (config.stateBucket !== '') {
      new GcsBackend(this, { bucket: config.stateBucket, prefix: `s8s-scoring-lab/${config.prefix}` });
    }
    if (config.projectIsPlaceholder) {
      Annotations.of(this).addWarning(
        'GOOGLE_CLOUD_PROJECT is not set: synthesized for the placeholder project "your-project-id". Set it before deploy.',
      );
    }
    new GoogleProvider(this, 'google', { project: projectId, region });
    // hashicorp/time: the history server's IAM propagation wait and the subnet's release wait.
    new TimeProvider(this, 'time');

    const services = new Services(this, 'services', { projectId });
    const apis = services.enabled;
    const network = new Network(this, 'network', {
      projectId, region,
      networkName: names.network, subnetName: names.subnet, firewallName: names.firewall,
      subnetCidr: config.subnetCidr,
      dependsOn: apis,
    });
    const identity = new Identity(this, 'identity', {
      projectId, labAccountId: names.labAccountId, sparkAccountId: names.sparkAccountId, dependsOn: apis,
    });
    const { lab, spark } = identity;

    const storage = new Storage(this, 'storage', {
      projectId, region, labels, bucketName: (p) => names.bucket(p), dependsOn: apis,
    });
    const b = storage.buckets;
    // What each account may do with each bucket.
    b.code.grantRead(spark);
    b.data.grantRead(spark);
    b.models.grantReadWrite(spark);
    b.spark.grantReadWrite(spark);
    b.phs.grantReadWrite(spark);
    b.composer.grantReadWrite(lab);

    const results = new ResultsDataset(this, 'bigquery', {
      projectId, region, datasetId: DATASET_ID, labels, modelsBucket: b.models.bucket.name, dependsOn: apis,
    });
    results.grantWrite(spark);
    results.grantRead(lab);

    const history = new HistoryServer(this, 'history', {
      projectId, region,
      name: names.historyServer,
      subnetId: network.subnet.id,
      serviceAccountEmail: spark.account.email,
      eventLogBucket: b.phs.bucket.name,
      stagingBucket: b.spark.bucket.name,
      labels,
      machineType: config.phsMachineType,
      bootDiskGb: config.phsDiskGb,
      accountGrants: [...identity.sparkPrerequisites, ...b.spark.grants, ...b.phs.grants],
      dependsOn: apis,
    });

    const composer = new Composer(this, 'composer', {
      projectId, region,
      name: names.composerEnvironment,
      serviceAccountEmail: lab.account.email,
      bucketName: b.composer.bucket.name,
      imageVersion: config.composerImage,
      size: config.composerSize,
      labels,
      // Names, not resource references: a reference would make the environment wait for the
      // resource it names (the subnet reference made it wait for the whole network). The DAGs
      // read these only when a task runs, long after deploy.
      variables: {
        project_id: projectId,
        region,
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
      },
      dependsOn: [...apis, ...identity.composerPrerequisites, ...b.composer.grants],
    });

    // Uploads go to the lab's buckets, so they need neither the environment nor the cluster.
    new Uploads(this, 'uploads', {
      rules: [
        // batch_size.json: the batch's size, read by s8s_common.py beside it (and by npm run preflight).
        { folder: 'airflow/dags', extensions: ['.py', '.json'], bucket: b.composer.bucket.name, prefix: 'dags' },
        // The jobs' entry points; the package they import goes as one archive (below).
        { folder: 'pyspark', extensions: ['.py'], bucket: b.code.bucket.name, prefix: 'pyspark' },
        { folder: 'pyspark/data', extensions: ['.csv'], bucket: b.data.bucket.name, prefix: 'data' },
      ],
      archives: [{ package: 'pyspark/s8s_churn', bucket: b.code.bucket.name, prefix: 'pyspark' }],
    });

    // Optional (off by default): a monthly budget on this project that e-mails as spend grows.
    if (config.budgetBillingAccount !== '') {
      new BudgetAlert(this, 'budget', {
        projectId,
        billingAccount: config.budgetBillingAccount,
        amount: config.budgetAmount,
        email: config.budgetEmail,
        displayName: `s8s-scoring-lab ${config.prefix} ${projectId}`,
      });
    }

    const out = (name: string, value: string, description: string) =>
      new TerraformOutput(this, name, { value, description });
    out('airflow_ui', composer.airflowUri, 'Airflow web UI of the Composer environment');
    out('dag_folder', composer.dagGcsPrefix, 'Where the DAG files live');
    out('history_server_ui', history.uiUrl, 'Spark History Server UI (component gateway)');
    for (const [purpose, bucket] of Object.entries(b)) {
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
}
