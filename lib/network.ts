import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall';
import { Sleep } from '@cdktf/provider-time/lib/sleep';

export interface NetworkProps {
  readonly projectId: string;
  readonly region: string;
  readonly networkName: string;
  readonly subnetName: string;
  readonly firewallName: string;
  /** @default - 10.10.0.0/24 */
  readonly subnetCidr?: string;
  /**
   * How long `destroy` waits before deleting the subnet, for addresses a batch that just ended
   * still holds in it. @default - 10m
   */
  readonly subnetReleaseWait?: string;
  /** Resources to create first (the compute API). @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * The network Dataproc Serverless needs: a custom-mode VPC, one regional subnet with Private
 * Google Access (batch VMs have no external IPs but must reach GCS and BigQuery), and an
 * ingress rule that lets Spark driver and executors talk to each other on any port.
 */
export class Network extends Construct {
  readonly network: ComputeNetwork;
  readonly subnet: ComputeSubnetwork;
  /** Waits on destroy only, before the subnet is deleted; creation does not wait for it. */
  readonly subnetRelease: Sleep;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const cidr = props.subnetCidr ?? '10.10.0.0/24';
    this.network = new ComputeNetwork(this, 'vpc', {
      project: props.projectId,
      name: props.networkName,
      autoCreateSubnetworks: false,
      dependsOn: props.dependsOn,
    });
    this.subnet = new ComputeSubnetwork(this, 'subnet', {
      project: props.projectId,
      region: props.region,
      name: props.subnetName,
      network: this.network.id,
      ipCidrRange: cidr,
      privateIpGoogleAccess: true,
      // Flow logs at a low sampling rate: enough to debug a batch that cannot reach a service,
      // cheap at lab traffic.
      logConfig: { aggregationInterval: 'INTERVAL_10_MIN', flowSampling: 0.1, metadata: 'INCLUDE_ALL_METADATA' },
    });
    // A Dataproc Serverless batch on runtime 2.x keeps its VMs' internal addresses in the subnet
    // for a while after it ends (runtime 3.0 lists "fast resource cleanup that allows faster
    // release of VPC IPs after workload completion" as new:
    // https://cloud.google.com/dataproc-serverless/docs/concepts/versions/spark-runtime-3.0).
    // Deleting a subnet that something still uses is refused at once with 400
    // resourceInUseByAnotherResource (hashicorp/terraform issue #21362), so a longer delete
    // timeout would not help; the subnet's deletion has to start later. Nothing depends on this
    // sleep, so `destroy` starts it first, in parallel with the Composer environment's and the
    // history server's deletion, and deletes the subnet when it ends (the pattern of
    // IBM-Cloud/terraform-provider-ibm issue #2779). Google states no release time for 2.x; if
    // destroy still meets the error, the README's Troubleshooting says what to run.
    this.subnetRelease = new Sleep(this, 'subnet-release', {
      destroyDuration: props.subnetReleaseWait ?? '10m',
      dependsOn: [this.subnet],
    });
    new ComputeFirewall(this, 'intra-subnet', {
      project: props.projectId,
      name: props.firewallName,
      network: this.network.id,
      direction: 'INGRESS',
      sourceRanges: [cidr],
      allow: [{ protocol: 'all' }],
      description: 'Dataproc Serverless: Spark driver and executors talk on any port inside the subnet',
    });
  }
}
