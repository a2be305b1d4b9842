/**
 * The Compute Engine quota the lab takes, computed from the stack's own sizes: the history
 * server's machine type and disk (lib/config.ts) and the batch size the DAGs send
 * (airflow/dags/batch_size.json, the file s8s_common.py reads).
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabConfig } from '../lib/config';

export const BATCH_SIZE_FILE = path.resolve(__dirname, '..', 'airflow', 'dags', 'batch_size.json');

/** The Spark properties of every lab batch. */
export function readBatchSize(file: string = BATCH_SIZE_FILE): Record<string, string> {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf-8'));
  if (typeof parsed?.properties !== 'object') throw new Error(`${file}: expected an object under "properties"`);
  return parsed.properties;
}

function property(size: Record<string, string>, key: string, parse: (v: string) => number | undefined): number {
  const value = size[key];
  const n = value === undefined ? undefined : parse(value);
  if (n === undefined || !Number.isFinite(n)) {
    throw new Error(`batch size ${key}: ${JSON.stringify(value)} is not valid; expected ${key.includes('disk') ? 'a size such as 400g' : 'a whole number'}`);
  }
  return n;
}

const wholeNumber = (v: string) => (/^\d+$/.test(v) ? Number(v) : undefined);

/** A Spark size ("400g", "1t", "512m") in GB, the unit of DISKS_TOTAL_GB. */
export function sizeGb(v: string): number | undefined {
  const m = /^(\d+)([kmgt])$/i.exec(v);
  if (!m) return undefined;
  const factor = { k: 1 / 1024 ** 2, m: 1 / 1024, g: 1, t: 1024 }[m[2].toLowerCase() as 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * factor;
}

/** vCPUs and standard-tier disk of one batch: a driver plus spark.executor.instances executors. */
export function batchFootprint(size: Record<string, string>): { vcpus: number; diskGb: number } {
  if (size['spark.dynamicAllocation.enabled'] !== 'false') {
    // With autoscaling on, the batch may grow past any figure computed here.
    throw new Error('batch size spark.dynamicAllocation.enabled must be "false" for its quota to be known');
  }
  // The premium tiers draw on other quotas (N2_CPUS, LOCAL_SSD_TOTAL_GB_PER_VM_FAMILY; quotas page).
  for (const key of ['driver.compute', 'executor.compute', 'driver.disk', 'executor.disk'].map((k) => `spark.dataproc.${k}.tier`)) {
    if (size[key] !== undefined && size[key] !== 'standard') {
      throw new Error(`batch size ${key}: ${JSON.stringify(size[key])} is not supported by preflight; expected "standard" or unset`);
    }
  }
  const executors = property(size, 'spark.executor.instances', wholeNumber);
  return {
    vcpus: property(size, 'spark.driver.cores', wholeNumber) + executors * property(size, 'spark.executor.cores', wholeNumber),
    diskGb: property(size, 'spark.dataproc.driver.disk.size', sizeGb) + executors * property(size, 'spark.dataproc.executor.disk.size', sizeGb),
  };
}

/** vCPUs of a predefined (e2-standard-2) or custom (n2-custom-4-16384) machine type. */
export function machineVcpus(machineType: string): number {
  const m = /^[a-z0-9]+-(?:standard|highmem|highcpu)-(\d+)$/.exec(machineType) ?? /^[a-z0-9]+-custom-(\d+)-\d+(?:-ext)?$/.exec(machineType);
  if (!m) throw new Error(`S8S_PHS_MACHINE_TYPE: cannot tell the vCPUs of ${JSON.stringify(machineType)}; expected a type such as e2-standard-2 or n2-custom-4-16384`);
  return Number(m[1]);
}

/**
 * The regional CPU quota a machine family draws on: E2 and N1 share CPUS, other families have
 * their own <FAMILY>_CPUS (https://cloud.google.com/compute/resource-usage#cpu_quota).
 */
export function cpuMetric(machineType: string): string {
  const family = machineType.split('-')[0];
  return family === 'e2' || family === 'n1' ? 'CPUS' : `${family.toUpperCase()}_CPUS`;
}

export interface QuotaNeed {
  readonly metric: string;
  readonly scope: 'region' | 'global';
  readonly amount: number;
  readonly why: string;
}

/**
 * Free quota the lab needs: one batch and the history server at once. Serverless batches on the
 * standard tiers draw on CPUS and DISKS_TOTAL_GB in the region, and on the global
 * CPUS_ALL_REGIONS (https://cloud.google.com/dataproc-serverless/quotas); the history server is
 * one VM with a pd-standard boot disk (lib/history.ts), which also counts in DISKS_TOTAL_GB. The
 * network takes one VPC, one subnet and one firewall rule of the project's global quotas.
 * Composer 3 runs its cluster outside the project and takes none of these.
 */
export function labNeeds(config: LabConfig, size: Record<string, string> = readBatchSize()): QuotaNeed[] {
  const batch = batchFootprint(size);
  const phsVcpus = machineVcpus(config.phsMachineType);
  const phsMetric = cpuMetric(config.phsMachineType);
  const cpus: QuotaNeed[] = phsMetric === 'CPUS'
    ? [{ metric: 'CPUS', scope: 'region', amount: batch.vcpus + phsVcpus, why: `${batch.vcpus} for a batch, ${phsVcpus} for the history server's ${config.phsMachineType}` }]
    : [
      { metric: 'CPUS', scope: 'region', amount: batch.vcpus, why: `${batch.vcpus} for a batch` },
      { metric: phsMetric, scope: 'region', amount: phsVcpus, why: `the history server's ${config.phsMachineType}` },
    ];
  return [
    ...cpus,
    {
      metric: 'DISKS_TOTAL_GB', scope: 'region', amount: batch.diskGb + config.phsDiskGb,
      why: `${batch.diskGb} GB for a batch's driver and executors, ${config.phsDiskGb} GB for the history server's disk`,
    },
    { metric: 'CPUS_ALL_REGIONS', scope: 'global', amount: batch.vcpus + phsVcpus, why: 'the same vCPUs, counted across all regions' },
    { metric: 'NETWORKS', scope: 'global', amount: 1, why: 'the lab\'s VPC' },
    { metric: 'SUBNETWORKS', scope: 'global', amount: 1, why: 'the lab\'s subnet' },
    { metric: 'FIREWALLS', scope: 'global', amount: 1, why: 'the intra-subnet rule' },
  ];
}
