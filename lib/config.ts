/**
 * The lab's configuration: every setting, its environment variable, its default and its check.
 *
 * main.ts reads the environment once and hands the typed result to the stack. Nothing else in
 * lib/ looks at process.env, so a test can build any configuration without touching globals.
 */

import { LATEST_VERSION, MODEL_VERSION_PATTERN } from './contract';
import composerImages from '../airflow/composer_images.json';
import batchSize from '../airflow/dags/batch_size.json';

/** Used when GOOGLE_CLOUD_PROJECT is unset, so `cdktf synth` works with no configuration at all. */
export const PLACEHOLDER_PROJECT = 'your-project-id';

export type ComposerSize = 'ENVIRONMENT_SIZE_SMALL' | 'ENVIRONMENT_SIZE_MEDIUM' | 'ENVIRONMENT_SIZE_LARGE';

export interface LabConfig {
  readonly projectId: string;
  /** True when no project was configured and PLACEHOLDER_PROJECT stands in. */
  readonly projectIsPlaceholder: boolean;
  readonly region: string;
  readonly prefix: string;
  readonly composerImage: string;
  readonly composerSize: ComposerSize;
  readonly subnetCidr: string;
  readonly phsMachineType: string;
  readonly phsDiskGb: number;
  readonly modelVersion: string;
  readonly containerImage: string;
  readonly stateBucket: string;
  /** Billing account of the optional budget alert (`XXXXXX-XXXXXX-XXXXXX`); '' = no budget. */
  readonly budgetBillingAccount: string;
  /** Budget amount in the billing account's currency, whole units; 0 = no budget. */
  readonly budgetAmount: number;
  /** Extra address the budget e-mails through a Cloud Monitoring channel; '' = only the billing account's own recipients. */
  readonly budgetEmail: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid lab configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Regions that offer Cloud Composer 3, Dataproc Serverless and BigQuery regional datasets.
 * Kept explicit so a typo fails at synth instead of 20 minutes into a deploy.
 */
export const SUPPORTED_REGIONS: readonly string[] = [
  'africa-south1',
  'asia-east1', 'asia-east2', 'asia-northeast1', 'asia-northeast2', 'asia-northeast3',
  'asia-south1', 'asia-south2', 'asia-southeast1', 'asia-southeast2',
  'australia-southeast1', 'australia-southeast2',
  'europe-central2', 'europe-north1', 'europe-southwest1', 'europe-west1', 'europe-west2',
  'europe-west3', 'europe-west4', 'europe-west6', 'europe-west8', 'europe-west9',
  'europe-west10', 'europe-west12',
  'me-central1', 'me-central2', 'me-west1',
  'northamerica-northeast1', 'northamerica-northeast2',
  'southamerica-east1', 'southamerica-west1',
  'us-central1', 'us-east1', 'us-east4', 'us-east5', 'us-south1',
  'us-west1', 'us-west2', 'us-west3', 'us-west4',
];

/** One Composer 3 Airflow line of airflow/composer_images.json (the single source for them). */
export interface ComposerLine {
  readonly image: string;
  readonly airflow: string;
  /** Airflow major version: part of the environment's name, so a change of major line replaces it. */
  readonly major: number;
  /** The build the tests lock; the default deploys the default line's. */
  readonly build: string;
  readonly legacy: boolean;
}

export const COMPOSER_LINES: readonly ComposerLine[] = composerImages.lines;

/**
 * The Composer 3 Airflow lines the lab is tested on (airflow/composer_images.json, which also
 * decides the Python test environments and docs/configuration.md's Airflow lines). An image is accepted
 * only as one of these aliases, or one of its builds (`<alias>-build.N`).
 */
export const TESTED_COMPOSER_IMAGES: readonly string[] = COMPOSER_LINES.map((l) => l.image);
/** A full build (`-build.N`), the one the tests lock: an alias would resolve to whatever build is newest at creation. */
export const DEFAULT_COMPOSER_IMAGE: string = composerImages.default;
/** The tested line Composer calls legacy (Airflow 2). */
export const LEGACY_COMPOSER_IMAGES: readonly string[] = COMPOSER_LINES.filter((l) => l.legacy).map((l) => l.image);

/** The tested line an image belongs to (alias or build), or undefined. */
export function composerLineOf(image: string): ComposerLine | undefined {
  const build = /^(.*)-build\.\d+$/.exec(image);
  const alias = build ? build[1] : image;
  return COMPOSER_LINES.find((l) => l.image === alias);
}

function checkComposerImage(v: string): string | undefined {
  if (composerLineOf(v) !== undefined) return undefined;
  const forms = TESTED_COMPOSER_IMAGES.map((i) => `${i} or ${i}-build.N`).join(', or ');
  return `one of the Airflow lines this lab is tested on: ${forms}`;
}

const COMPOSER_SIZES: readonly ComposerSize[] = [
  'ENVIRONMENT_SIZE_SMALL', 'ENVIRONMENT_SIZE_MEDIUM', 'ENVIRONMENT_SIZE_LARGE',
];

/** Machine types Dataproc 2.x images refuse, or that cannot hold a history server. */
const REFUSED_PHS_MACHINES = /^(e2-(micro|small|medium)|f1-micro|g1-small|n1-standard-1)$/;

/** One row per setting. The configuration table of docs/configuration.md shows exactly these rows (a test checks it). */
export interface SettingSpec {
  readonly env: string;
  readonly key: keyof Omit<LabConfig, 'projectIsPlaceholder'>;
  readonly defaultValue: string;
  readonly description: string;
  /** Returns a problem description ("expected ...") or undefined when the value is good. */
  readonly check: (value: string) => string | undefined;
}

/**
 * Cloud Storage bucket names "cannot begin with the goog prefix" and "cannot contain google or
 * close misspellings, such as g00gle" (https://cloud.google.com/storage/docs/buckets#naming,
 * read 2026-12-05). Every lab bucket is `<prefix>-<project>-<purpose>`, so both settings obey it.
 */
const GOOGLE_LIKE = /g[o0][o0]gle/;

const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const PREFIX = /^[a-z][a-z0-9-]{0,10}[a-z0-9]$/;
const MACHINE_TYPE = /^[a-z][a-z0-9]*-[a-z]+(-[a-z0-9]+)*$/;
// `latest` or a version name, as the contract (and so the jobs and the DAGs) define them.
const MODEL_VERSION = new RegExp(`^(${LATEST_VERSION}|${MODEL_VERSION_PATTERN.slice(1, -1)})$`);
const CONTAINER_IMAGE = /^([a-z0-9-]+\.)*(gcr\.io|pkg\.dev)\/[a-z0-9._\/-]+(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})?$/;
const BUCKET = /^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$/;
const BILLING_ACCOUNT = /^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$/;
const EMAIL = /^[^@\s,;]+@[^@\s,;]+\.[a-z]{2,}$/i;

function checkProject(v: string): string | undefined {
  if (v.includes(':')) return 'a plain project id; domain-scoped ids (example.com:my-project) cannot name buckets';
  if (!PROJECT_ID.test(v)) {
    return '6-30 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen';
  }
  if (GOOGLE_LIKE.test(v) || v.startsWith('goog')) {
    return 'a project id without "google" or a misspelling of it such as "g00gle", not starting with "goog" (it is part of every bucket name, and Cloud Storage refuses those)';
  }
  return undefined;
}

function checkPrefix(v: string): string | undefined {
  if (!PREFIX.test(v)) return '2-12 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen';
  if (v.startsWith('goog') || GOOGLE_LIKE.test(v)) {
    return 'a prefix that does not start with "goog" and does not contain "google" or a misspelling of it such as "g00gle" (it begins every bucket name, and Cloud Storage refuses those)';
  }
  return undefined;
}

/**
 * Addresses the subnet must hold at once. Every node of a Serverless batch (the driver and each
 * executor) runs in the subnet and takes one address; the lab's batch size is fixed
 * (airflow/dags/batch_size.json, no autoscaling), a training and a scoring batch may run at the
 * same time, and the history server's single node takes one more. Google reserves 4 addresses of
 * every subnet's primary range (https://cloud.google.com/vpc/docs/subnets#unusable-ip-addresses-in-every-subnet).
 * Serverless's network page asks for a subnet with Private Google Access and an open ingress rule
 * (https://cloud.google.com/dataproc-serverless/docs/concepts/network) but states no per-node count
 * in the copies read on 2026-12-05: one address per node is the lab's own count.
 */
export const BATCH_NODES = 1 + Number(batchSize.properties['spark.executor.instances']);
export const CONCURRENT_BATCHES = 2;
export const SUBNET_ADDRESSES_NEEDED = CONCURRENT_BATCHES * BATCH_NODES + 1;
export const SUBNET_RESERVED_ADDRESSES = 4;
/** The smallest subnet (largest prefix length) that holds SUBNET_ADDRESSES_NEEDED. */
export const SMALLEST_SUBNET_BITS = (() => {
  let bits = 29;
  while (2 ** (32 - bits) - SUBNET_RESERVED_ADDRESSES < SUBNET_ADDRESSES_NEEDED) bits -= 1;
  return bits;
})();

function checkCidr(v: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  const expected = `a private IPv4 range in CIDR form between /16 and /${SMALLEST_SUBNET_BITS}, such as 10.10.0.0/24`;
  if (!m) return expected;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 16 || bits > 29) return expected;
  if (bits > SMALLEST_SUBNET_BITS) {
    return `${expected}: a /${bits} holds ${2 ** (32 - bits) - SUBNET_RESERVED_ADDRESSES} usable addresses (Google reserves ` +
      `${SUBNET_RESERVED_ADDRESSES}), and the lab needs ${SUBNET_ADDRESSES_NEEDED}: ${CONCURRENT_BATCHES} batches at once of ` +
      `${BATCH_NODES} nodes each (a driver and spark.executor.instances executors, airflow/dags/batch_size.json) and the history server`;
  }
  const [a, b] = octets;
  const isPrivate = a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  if (!isPrivate) return expected;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  if (address % 2 ** (32 - bits) !== 0) return `${expected}, with no host bits set`;
  return undefined;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    env: 'GOOGLE_CLOUD_PROJECT', key: 'projectId', defaultValue: PLACEHOLDER_PROJECT,
    description: 'Project to deploy into. Unset: synth uses a placeholder and deploy is refused by Google.',
    check: checkProject,
  },
  {
    env: 'S8S_REGION', key: 'region', defaultValue: 'us-central1',
    description: 'Region of every regional resource (Composer, Dataproc, subnet, buckets, dataset).',
    check: (v) => (SUPPORTED_REGIONS.includes(v) ? undefined : `one of ${SUPPORTED_REGIONS.join(', ')}`),
  },
  {
    env: 'S8S_PREFIX', key: 'prefix', defaultValue: 's8s',
    description: 'First token of every resource name (2-12 lowercase letters, digits, hyphens; as bucket names require, not starting with `goog` and without `google`).',
    check: checkPrefix,
  },
  {
    env: 'S8S_COMPOSER_IMAGE', key: 'composerImage', defaultValue: DEFAULT_COMPOSER_IMAGE,
    description: `Composer 3 image: a build of ${COMPOSER_LINES.map((l) => `\`${l.image}\`${l.legacy ? ' (Airflow 2, Composer\'s legacy line)' : ''}`).join(' or ')}; ` +
      'the default is the build the tests lock. A line without `-build.N` resolves to the newest build at creation, which the tests have not seen. ' +
      'Builds leave support 12 months after release. A newer build of the same line is an in-place upgrade; another Airflow major line ' +
      'replaces the environment side by side ([composer-lines.md](composer-lines.md)).',
    check: checkComposerImage,
  },
  {
    env: 'S8S_COMPOSER_SIZE', key: 'composerSize', defaultValue: 'ENVIRONMENT_SIZE_SMALL',
    description: 'Composer environment size.',
    check: (v) => (COMPOSER_SIZES.includes(v as ComposerSize) ? undefined : `one of ${COMPOSER_SIZES.join(', ')}`),
  },
  {
    env: 'S8S_SUBNET_CIDR', key: 'subnetCidr', defaultValue: '10.10.0.0/24',
    description: `Range of the subnet the batches and the history server use (private, /16 to /${SMALLEST_SUBNET_BITS}: ${SUBNET_ADDRESSES_NEEDED} addresses for two batches at once and the history server, plus the ${SUBNET_RESERVED_ADDRESSES} Google reserves).`,
    check: checkCidr,
  },
  {
    env: 'S8S_PHS_MACHINE_TYPE', key: 'phsMachineType', defaultValue: 'e2-standard-2',
    description: 'History server machine (shared-core types and n1-standard-1 are refused).',
    check: (v) => {
      if (!MACHINE_TYPE.test(v)) return 'a Compute Engine machine type such as e2-standard-2';
      if (REFUSED_PHS_MACHINES.test(v)) return 'a machine type Dataproc 2.x accepts (not shared-core, not n1-standard-1), such as e2-standard-2';
      return undefined;
    },
  },
  {
    env: 'S8S_PHS_DISK_GB', key: 'phsDiskGb', defaultValue: '35',
    description: 'History server boot disk in GB, 30-1000 (Dataproc\'s default is 500).',
    check: (v) => (/^\d+$/.test(v) && Number(v) >= 30 && Number(v) <= 1000 ? undefined : 'a whole number of GB from 30 to 1000'),
  },
  {
    env: 'S8S_MODEL_VERSION', key: 'modelVersion', defaultValue: LATEST_VERSION,
    description: `Value of the \`model_version\` Airflow variable; \`${LATEST_VERSION}\` scores with the newest trained model.`,
    check: (v) => (MODEL_VERSION.test(v) ? undefined : `"${LATEST_VERSION}" or 1-63 characters of a-z, 0-9, ".", "_", "-" starting with a letter or digit`),
  },
  {
    env: 'S8S_CONTAINER_IMAGE', key: 'containerImage', defaultValue: '',
    description: 'Custom Dataproc Serverless container image; empty uses the runtime\'s own.',
    check: (v) => (v === '' || CONTAINER_IMAGE.test(v) ? undefined : 'empty, or an Artifact Registry / Container Registry image such as us-docker.pkg.dev/p/repo/image:tag'),
  },
  {
    env: 'S8S_STATE_BUCKET', key: 'stateBucket', defaultValue: '',
    description: 'Existing GCS bucket for Terraform state (prefix `s8s-scoring-lab/<prefix>`); empty keeps `terraform.s8s-scoring-lab.tfstate` in this folder.',
    check: (v) => (v === '' || (BUCKET.test(v) && !v.includes('..')) ? undefined : 'empty, or an existing bucket name (3-63 lowercase letters, digits, "-", "_", ".")'),
  },
  {
    env: 'S8S_BUDGET_BILLING_ACCOUNT', key: 'budgetBillingAccount', defaultValue: '',
    description: 'Billing account (`XXXXXX-XXXXXX-XXXXXX`) of an optional budget alert on the lab\'s project; empty: no budget. Set with `S8S_BUDGET_AMOUNT` (see "Budget alert").',
    check: (v) => (v === '' || BILLING_ACCOUNT.test(v) ? undefined : 'empty, or a billing account id of three groups of 6 uppercase letters or digits, such as 012345-6789AB-CDEF01'),
  },
  {
    env: 'S8S_BUDGET_AMOUNT', key: 'budgetAmount', defaultValue: '0',
    description: 'Budget amount in the billing account\'s currency, whole units (e-mails at 50%, 90% and 100% of it, and at 100% of the forecast); 0: no budget.',
    check: (v) => (/^\d{1,9}$/.test(v) ? undefined : 'a whole amount from 0 to 999999999 in the billing account\'s currency, such as 50'),
  },
  {
    env: 'S8S_BUDGET_EMAIL', key: 'budgetEmail', defaultValue: '',
    description: 'Also e-mail the budget\'s alerts to this address (a Cloud Monitoring e-mail channel); empty: only the billing account\'s administrators and users.',
    check: (v) => (v === '' || EMAIL.test(v) ? undefined : 'empty, or one e-mail address such as finops@example.com'),
  },
];

/** Settings the lab no longer has, with why: set, they stop synth rather than be ignored. */
export const REMOVED_SETTINGS: Readonly<Record<string, string>> = {
  S8S_BQ_CONNECTOR_JAR:
    'unset: Serverless runtime 2.x ships the BigQuery connector, and a second copy on the classpath fails the job ' +
    '("BigQueryRelationProvider not a subtype", kevenpinto/spark-serverless-repo-example#2); ' +
    'Google\'s connector page asks for --jars only on runtime 2.0',
};

/** Reads and validates every setting; throws one ConfigError that lists every bad value. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): LabConfig {
  const problems: string[] = [];
  for (const [name, why] of Object.entries(REMOVED_SETTINGS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') problems.push(`${name}: ${JSON.stringify(raw)} is no longer a setting; expected it ${why}`);
  }
  const values: Record<string, string> = {};
  for (const spec of SETTINGS) {
    const raw = env[spec.env];
    // An empty variable means "not set" (what `export S8S_REGION=` gives); a blank one is an error.
    const value = raw === undefined || raw === '' ? spec.defaultValue : raw;
    if (typeof value !== 'string') {
      problems.push(`${spec.env}: got a ${typeof value}; expected a string`);
      continue;
    }
    const problem = spec.check(value);
    if (problem !== undefined) {
      problems.push(`${spec.env}: ${JSON.stringify(value)} is not valid; expected ${problem}`);
    }
    values[spec.key] = value;
  }
  // A budget needs an account and an amount; one without the other (or an e-mail without both)
  // is a mistake, not "off". Checked once both values are valid on their own.
  if (!problems.some((p) => p.startsWith('S8S_BUDGET_'))) {
    const account = values.budgetBillingAccount !== '';
    const amount = Number(values.budgetAmount) !== 0;
    const email = values.budgetEmail !== '';
    if (account !== amount || (email && !account)) {
      problems.push(
        `S8S_BUDGET_BILLING_ACCOUNT and S8S_BUDGET_AMOUNT: ${JSON.stringify(values.budgetBillingAccount)} and ` +
          `${JSON.stringify(values.budgetAmount)}${email ? ` (with S8S_BUDGET_EMAIL ${JSON.stringify(values.budgetEmail)})` : ''} ` +
          'do not go together; expected both set (a billing account and an amount above 0) for a budget alert, or neither',
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const projectId = values.projectId;
  return {
    projectId,
    projectIsPlaceholder: projectId === PLACEHOLDER_PROJECT,
    region: values.region,
    prefix: values.prefix,
    composerImage: values.composerImage,
    composerSize: values.composerSize as ComposerSize,
    subnetCidr: values.subnetCidr,
    phsMachineType: values.phsMachineType,
    phsDiskGb: Number(values.phsDiskGb),
    modelVersion: values.modelVersion,
    containerImage: values.containerImage,
    stateBucket: values.stateBucket,
    budgetBillingAccount: values.budgetBillingAccount,
    budgetAmount: Number(values.budgetAmount),
    budgetEmail: values.budgetEmail,
  };
}
