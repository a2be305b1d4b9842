import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall';

export interface NetworkProps {
  readonly projectId: string;
  readonly region: string;
  readonly networkName: string;
  readonly subnetName: string;
  readonly firewallName: string;
  /** @default - 10.10.0.0/24 */
  readonly subnetCidr?: string;
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
