import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { DataprocCluster } from '@cdktf/provider-google/lib/dataproc-cluster';
import { PHS_IMAGE_VERSION } from './names';
import { REASONS, suppressCheck } from './policy';

export interface HistoryServerProps {
  readonly projectId: string;
  readonly region: string;
  readonly name: string;
  readonly subnetId: string;
  readonly serviceAccountEmail: string;
  /** Bucket the batches write their Spark event logs to. */
  readonly eventLogBucket: string;
  /** Bucket for the cluster's staging and temp files (else Dataproc creates its own). */
  readonly stagingBucket: string;
  readonly labels: Record<string, string>;
  /** @default - e2-standard-2, the cheapest type Dataproc 2.x accepts */
  readonly machineType?: string;
  /** @default - 35 GB instead of Dataproc's 500 GB */
  readonly bootDiskGb?: number;
  /** @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * A single-node Dataproc cluster serving the Persistent Spark History Server. Batches point at
 * it and write event logs under gs://<phs bucket>/<batch>/spark-job-history, which the server
 * reads through the wildcard in spark.history.fs.logDirectory.
 */
export class HistoryServer extends Construct {
  readonly cluster: DataprocCluster;

  constructor(scope: Construct, id: string, props: HistoryServerProps) {
    super(scope, id);
    this.cluster = new DataprocCluster(this, 'cluster', {
      project: props.projectId,
      region: props.region,
      name: props.name,
      labels: props.labels,
      clusterConfig: {
        stagingBucket: props.stagingBucket,
        tempBucket: props.stagingBucket,
        softwareConfig: {
          imageVersion: PHS_IMAGE_VERSION,
          overrideProperties: {
            'dataproc:dataproc.allow.zero.workers': 'true',
            'spark:spark.history.fs.logDirectory': `gs://${props.eventLogBucket}/*/spark-job-history`,
          },
        },
        endpointConfig: { enableHttpPortAccess: true },
        gceClusterConfig: {
          subnetwork: props.subnetId,
          // Provider 6.x sends false unless told; the subnet's Private Google Access makes
          // external IPs unnecessary.
          internalIpOnly: true,
          serviceAccount: props.serviceAccountEmail,
          serviceAccountScopes: ['https://www.googleapis.com/auth/cloud-platform'],
          shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
        },
        masterConfig: {
          numInstances: 1,
          machineType: props.machineType ?? 'e2-standard-2',
          diskConfig: { bootDiskType: 'pd-standard', bootDiskSizeGb: props.bootDiskGb ?? 35 },
        },
      },
      dependsOn: props.dependsOn,
    });
    suppressCheck(this.cluster, 'CKV_GCP_91', REASONS.googleManagedKeys);
  }

  /** The UI address through the component gateway, known once the cluster exists. */
  get uiUrl(): string {
    return this.cluster.clusterConfig.endpointConfig.httpPorts.lookup('Spark History Server');
  }
}
