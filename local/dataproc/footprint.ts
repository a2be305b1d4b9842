/**
 * The quota a Dataproc batch takes, for the Dataproc twin (local/dataproc/quota.py), computed by
 * preflight's own functions so `npm run preflight` and the twin count a batch the same way.
 *   stdin:  {"batches": [{"spark.driver.cores": "4", ...}], "machineTypes": ["e2-standard-2"]}
 *   stdout: {"batches": [{"vcpus": 12, "diskGb": 1200} | {"error": "..."}], "machineTypes": [{"vcpus": 2, "metric": "CPUS"}]}
 */
import * as fs from 'fs';
import { batchFootprint, cpuMetric, machineVcpus } from '../../preflight/needs';

const input = JSON.parse(fs.readFileSync(0, 'utf-8')) as { batches?: Record<string, string>[]; machineTypes?: string[] };
const attempt = <T>(f: () => T): T | { error: string } => {
  try {
    return f();
  } catch (e) {
    return { error: (e as Error).message };
  }
};
process.stdout.write(JSON.stringify({
  batches: (input.batches ?? []).map((p) => attempt(() => batchFootprint(p))),
  machineTypes: (input.machineTypes ?? []).map((t) => attempt(() => ({ vcpus: machineVcpus(t), metric: cpuMetric(t) }))),
}));
