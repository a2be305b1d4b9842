import { composerLineOf, LabConfig } from './config';

/** What each lab bucket holds. The name of each bucket ends with its purpose. */
export const BUCKET_PURPOSES = ['code', 'data', 'models', 'spark', 'phs', 'composer'] as const;
export type BucketPurpose = (typeof BUCKET_PURPOSES)[number];

/**
 * Every resource name, derived from the prefix and the project, without random suffixes, so
 * a person can guess them: `<prefix>-<project>-code` is the code bucket, `<prefix>-phs` the
 * history server, `<prefix>-composer-airflow3` the Composer environment.
 */
export class LabNames {
  constructor(private readonly config: LabConfig) {}

  bucket(purpose: BucketPurpose): string {
    // Bucket names are global, so they carry the project id. The Composer environment's bucket
    // belongs to one environment (Composer refuses a bucket another environment uses), so it is
    // named after the environment's Airflow line like the environment itself.
    const base = `${this.config.prefix}-${this.config.projectId}-${purpose}`;
    return purpose === 'composer' ? `${base}-${this.airflowLine}` : base;
  }

  /**
   * `airflow3` or `airflow2`: the Airflow major line of S8S_COMPOSER_IMAGE. It is part of the
   * Composer environment's name and of its bucket's, so a change of major line (which Composer
   * cannot do in place) makes a new environment beside the old one instead of a failed update;
   * a newer build or minor version of the same line keeps the name and stays an in-place upgrade.
   */
  get airflowLine(): string {
    const line = composerLineOf(this.config.composerImage);
    if (line === undefined) throw new Error(`S8S_COMPOSER_IMAGE: ${JSON.stringify(this.config.composerImage)} is no tested line`);
    return `airflow${line.major}`;
  }

  get network(): string { return `${this.config.prefix}-vpc`; }
  get subnet(): string { return `${this.config.prefix}-subnet`; }
  get firewall(): string { return `${this.config.prefix}-allow-intra-subnet`; }
  get composerEnvironment(): string { return `${this.config.prefix}-composer-${this.airflowLine}`; }
  get historyServer(): string { return `${this.config.prefix}-phs`; }
  /** The seed calls the lab's account s8s-lab-sa; with the default prefix it keeps that name. */
  get labAccountId(): string { return `${this.config.prefix}-lab-sa`; }
  get sparkAccountId(): string { return `${this.config.prefix}-spark-sa`; }

  /**
   * Addresses known at synth, for values that must not make their reader wait for the resource:
   * an Airflow variable that referenced the subnet resource made the Composer environment (the
   * deploy's critical path) wait for the network. test/stack.test.ts checks each one against the
   * resource it names.
   */
  get sparkAccountEmail(): string { return serviceAccountEmail(this.sparkAccountId, this.config.projectId); }
  /** The form google_compute_subnetwork.id takes, and the one a batch's subnetwork_uri accepts. */
  get subnetUri(): string {
    return `projects/${this.config.projectId}/regions/${this.config.region}/subnetworks/${this.subnet}`;
  }
}

/** A user-managed service account's email: `<account id>@<project>.iam.gserviceaccount.com`. */
export function serviceAccountEmail(accountId: string, projectId: string): string {
  return `${accountId}@${projectId}.iam.gserviceaccount.com`;
}
