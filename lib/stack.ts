import { Construct } from 'constructs';
import { Annotations, GcsBackend, TerraformStack } from 'cdktf';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TimeProvider } from '@cdktf/provider-time/lib/provider';
import { LabConfig } from './config';
import { DATASET_ID } from './contract';
import { LabNames } from './names';
import { Services } from './services';
import { Network } from './network';
import { Identity } from './identity';
import { Storage } from './storage';
import { ResultsDataset } from './bigquery';
import { HistoryServer } from './history';
import { Composer } from './composer';
import { labUploads } from './assets';
import { BudgetAlert } from './budget';
import { airflowVariables } from './variables';
import { labOutputs } from './outputs';

/** DAG ids, from the contract the DAG files read too (test/python/airflow checks the outputs name them). */
export { SCORING_DAG_ID, TRAINING_DAG_ID } from './contract';

/**
 * The whole lab, in the order of the README's diagram. Ordering: APIs, then accounts and grants,
 * then Composer and the history server side by side. Composer's ~25 minute creation is the
 * critical path: it waits for the APIs, its account, its grants and its own bucket, nothing else
 * (its Airflow variables are names known at synth, lib/variables.ts). The history server's path
 * alone waits for IAM propagation (lib/history.ts). Each waits for its grants because it says which
 * account it runs as and which buckets it uses (Principal.runs, lib/identity.ts); test/stack.test.ts
 * walks the dependency graph to show both.
 */
export class LabStack extends TerraformStack {
  readonly names: LabNames;

  constructor(scope: Construct, id: string, config: LabConfig) {
    super(scope, id);
    const names = (this.names = new LabNames(config));
    const { projectId, region } = config;
    const labels = { lab: 's8s-scoring-lab', prefix: config.prefix };
    this.configureTerraform(config);

    const apis = new Services(this, 'services', { projectId }).enabled;
    const network = new Network(this, 'network', {
      projectId, region, subnetCidr: config.subnetCidr, dependsOn: apis,
      networkName: names.network, subnetName: names.subnet, firewallName: names.firewall,
    });
    const { lab, spark } = new Identity(this, 'identity', {
      projectId, labAccountId: names.labAccountId, sparkAccountId: names.sparkAccountId, dependsOn: apis,
    });
    const b = new Storage(this, 'storage', { projectId, region, labels, bucketName: (p) => names.bucket(p), dependsOn: apis }).buckets;
    // What each account may do with each bucket and with the dataset.
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
      projectId, region, name: names.historyServer, subnetId: network.subnet.id, labels, dependsOn: apis,
      runsAs: spark, eventLogBucket: b.phs, stagingBucket: b.spark,
      machineType: config.phsMachineType, bootDiskGb: config.phsDiskGb,
    });
    const composer = new Composer(this, 'composer', {
      projectId, region, name: names.composerEnvironment, labels, dependsOn: apis,
      runsAs: lab, bucket: b.composer, variables: airflowVariables(config, names),
      imageVersion: config.composerImage, size: config.composerSize,
    });

    // Uploads go to the lab's buckets, so they need neither the environment nor the cluster.
    labUploads(this, b);
    // Optional (off by default): a monthly budget on this project that e-mails as spend grows.
    if (config.budgetBillingAccount !== '') {
      new BudgetAlert(this, 'budget', {
        projectId, billingAccount: config.budgetBillingAccount, amount: config.budgetAmount, email: config.budgetEmail,
        displayName: `s8s-scoring-lab ${config.prefix} ${projectId}`,
      });
    }
    labOutputs(this, { config, names, composer, history, buckets: b });
  }

  /** State backend, placeholder-project warning and the two providers. */
  private configureTerraform(config: LabConfig): void {
    if (config.stateBucket !== '') {
      new GcsBackend(this, { bucket: config.stateBucket, prefix: `s8s-scoring-lab/${config.prefix}` });
    }
    if (config.projectIsPlaceholder) {
      Annotations.of(this).addWarning(
        'GOOGLE_CLOUD_PROJECT is not set: synthesized for the placeholder project "your-project-id". Set it before deploy.',
      );
    }
    new GoogleProvider(this, 'google', { project: config.projectId, region: config.region });
    // hashicorp/time: the history server's IAM propagation wait and the subnet's release wait.
    new TimeProvider(this, 'time');
  }
}
