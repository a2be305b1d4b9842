import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { DataprocCluster } from '@cdktf/provider-google/lib/dataproc-cluster';
import { Sleep } from '@cdktf/provider-time/lib/sleep';
import { PHS_IMAGE_VERSION } from './versions';
import { Principal } from './identity';
import { LabBucket } from './storage';
import { REASONS, suppressCheck } from './policy';

export interface HistoryServerProps {
  readonly projectId: string;
  readonly region: string;
  readonly name: string;
  readonly subnetId: string;
  /** The account the cluster runs as; it is created once that account's grants exist (and a wait). */
  readonly runsAs: Principal;
  /** Bucket the batches write their Spark event logs to. */
  readonly eventLogBucket: LabBucket;
  /** Bucket for the cluster's staging and temp files (else Dataproc creates its own). */
  readonly stagingBucket: LabBucket;
  readonly labels: Record<string, string>;
  /** @default - e2-standard-2, the cheapest type Dataproc 2.x accepts */
  readonly machineType?: string;
  /** @default - 35 GB instead of Dataproc's 500 GB */
  readonly bootDiskGb?: number;
  /** @default - 7m, the upper end of the usual IAM propagation time */
  readonly iamPropagationWait?: string;
  /** Other resources to create first (APIs). @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * A single-node Dataproc cluster serving the Persistent Spark History Server. Batches point at
 * it and write event logs under gs://<phs bucket>/<batch>/spark-job-history, which the server
 * reads through the wildcard in spark.history.fs.logDirectory. Its image (PHS_IMAGE_VERSION,
 * 2.3-debian12) is the version of the batches' runtime (SPARK_RUNTIME_VERSION, 2.3): the
 * history-server page requires the two to match
 * (https://cloud.google.com/dataproc/docs/concepts/jobs/history-server, "Limitations").
 */
export class HistoryServer extends Construct {
  readonly cluster: DataprocCluster;
  /** The wait between the account's grants and the cluster; on the history server's path only. */
  readonly iamPropagation: Sleep;

  constructor(scope: Construct, id: string, props: HistoryServerProps) {
    super(scope, id);
    // The cluster's first boot creates the event-log folder as the spark account. Right after
    // the account's grants are made that fails with 403 ("Failed to create event log dir with 403
    // HTTP response code", cloud-foundation-fabric PR #2141; magic-modules PR #10403 added a
    // delay to the provider's own Dataproc test for the same reason): IAM changes typically take
    // 2 minutes to propagate and can take 7 or more
    // (https://cloud.google.com/iam/docs/access-change-propagation). Ordering alone cannot wait
    // for propagation, so this path sleeps. The Composer environment does not depend on it, and
    // its ~25 minute creation runs alongside, so the deploy is not longer for it.
    this.iamPropagation = new Sleep(this, 'iam-propagation', { createDuration: props.iamPropagationWait ?? '7m' });
    // The wait starts once the account's project roles and its grants on both buckets exist.
    props.runsAs.runs(this.iamPropagation, [props.stagingBucket, props.eventLogBucket]);
    const staging = props.stagingBucket.bucket.name;
    this.cluster = new DataprocCluster(this, 'cluster', {
      project: props.projectId,
      region: props.region,
      name: props.name,
      labels: props.labels,
      clusterConfig: {
        stagingBucket: staging,
        tempBucket: staging,
        softwareConfig: {
          imageVersion: PHS_IMAGE_VERSION,
          overrideProperties: {
            'dataproc:dataproc.allow.zero.workers': 'true',
            'spark:spark.history.fs.logDirectory': `gs://${props.eventLogBucket.bucket.name}/*/spark-job-history`,
          },
        },
        endpointConfig: { enableHttpPortAccess: true },
        gceClusterConfig: {
          subnetwork: props.subnetId,
          // Provider 6.x sends false unless told; the subnet's Private Google Access makes
          // external IPs unnecessary.
          internalIpOnly: true,
          serviceAccount: props.runsAs.account.email,
          serviceAccountScopes: ['https://www.googleapis.com/auth/cloud-platform'],
          shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
        },
        masterConfig: {
          numInstances: 1,
          machineType: props.machineType ?? 'e2-standard-2',
          diskConfig: { bootDiskType: 'pd-standard', bootDiskSizeGb: props.bootDiskGb ?? 35 },
        },
      },
      dependsOn: [...(props.dependsOn ?? []), this.iamPropagation],
    });
    suppressCheck(this.cluster, 'CKV_GCP_91', REASONS.googleManagedKeys);
  }

  /** The UI address through the component gateway, known once the cluster exists. */
  get uiUrl(): string {
    return this.cluster.clusterConfig.endpointConfig.httpPorts.lookup('Spark History Server');
  }
}
