import { Construct } from 'constructs';
import { Annotations, ITerraformDependable } from 'cdktf';
import { ComposerEnvironment } from '@cdktf/provider-google/lib/composer-environment';
import { AIRFLOW_VARIABLES, OPTIONAL_AIRFLOW_VARIABLES } from './contract';
import { ComposerSize, composerLineOf, DEFAULT_COMPOSER_IMAGE } from './config';
import { Principal } from './identity';
import { LabBucket } from './storage';

export interface ComposerProps {
  readonly projectId: string;
  readonly region: string;
  readonly name: string;
  /** The environment's account; the environment is created once that account's grants exist. */
  readonly runsAs: Principal;
  /** The lab's own bucket; Composer's default bucket would survive destroy. */
  readonly bucket: LabBucket;
  /**
   * Value of every Airflow variable in airflow/variables.json, by name. An optional one (listed
   * under "optional" there) may be empty or left out: it is then not set at all.
   */
  readonly variables: Readonly<Record<string, string | undefined>>;
  readonly labels: Record<string, string>;
  /** @default - DEFAULT_COMPOSER_IMAGE (airflow/composer_images.json) */
  readonly imageVersion?: string;
  /** @default - ENVIRONMENT_SIZE_SMALL */
  readonly size?: ComposerSize;
  /** Other resources to create first (APIs). @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * Sets the DAGs' variables as AIRFLOW_VAR_<NAME>, an optional one only when it has a value (the
 * DAGs read those with a default), so that no variable is ever set to "". Throws if a required
 * variable has no value, or a value is given for a variable no DAG reads.
 */
export function airflowEnvVariables(values: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const expected = Object.keys(AIRFLOW_VARIABLES).sort();
  const optional = new Set(OPTIONAL_AIRFLOW_VARIABLES);
  const hasValue = (k: string) => (values[k] ?? '') !== '';
  const missing = expected.filter((k) => !optional.has(k) && !hasValue(k));
  const unknown = Object.keys(values).filter((k) => !expected.includes(k)).sort();
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(
      `Airflow variables do not match airflow/variables.json: required but missing or empty ${JSON.stringify(missing)}, ` +
        `not read by any DAG ${JSON.stringify(unknown)}`,
    );
  }
  return Object.fromEntries(expected.filter(hasValue).map((k) => [`AIRFLOW_VAR_${k.toUpperCase()}`, values[k] as string]));
}

/**
 * A Cloud Composer 3 environment. No PyPI packages (each is an extra update after creation; the
 * Google provider is preinstalled), no triggerer (the DAGs use no deferrable operator).
 *
 * Variables are environment variables: they cost no database query when a DAG is parsed, but
 * they do not show in the Airflow UI and an edit there is shadowed by them.
 */
export class Composer extends Construct {
  readonly environment: ComposerEnvironment;

  constructor(scope: Construct, id: string, props: ComposerProps) {
    super(scope, id);
    const imageVersion = props.imageVersion ?? DEFAULT_COMPOSER_IMAGE;
    const line = composerLineOf(imageVersion);
    if (line !== undefined && imageVersion !== line.build) {
      Annotations.of(this).addWarning(
        `Composer image ${imageVersion} is not the build the tests lock (${line.build}): ` +
          (imageVersion === line.image ? 'an alias resolves to the newest build at creation' : 'its packages were not tested') +
          '. docs/composer-lines.md says how to move the lab to a newer build.',
      );
    }
    this.environment = new ComposerEnvironment(this, 'environment', {
      project: props.projectId,
      region: props.region,
      name: props.name,
      labels: props.labels,
      storageConfig: { bucket: props.bucket.bucket.name },
      config: {
        environmentSize: props.size ?? 'ENVIRONMENT_SIZE_SMALL',
        softwareConfig: {
          imageVersion,
          envVariables: airflowEnvVariables(props.variables),
          // The DAGs run only when triggered (schedule=None); unpaused, a trigger runs at once.
          airflowConfigOverrides: { 'core-dags_are_paused_at_creation': 'False' },
        },
        nodeConfig: { serviceAccount: props.runsAs.account.email },
      },
      timeouts: { create: '90m', update: '90m', delete: '60m' },
      dependsOn: props.dependsOn,
      // The name carries the Airflow major line (lib/names.ts), and `name` is ForceNew in the
      // google provider (google/services/composer/resource_composer_environment.go: "name":
      // Required, ForceNew), so a change of major line is a replacement. Composer cannot move an
      // environment from Airflow 2 to 3 in place; Google supports only a side-by-side migration.
      // Creating the new environment first keeps the lab usable until it is ready, and a failed
      // creation leaves the old one untouched. A newer build of the same line changes only
      // image_version: an in-place upgrade (image_version is not ForceNew).
      lifecycle: { createBeforeDestroy: true },
    });
    // Its account's project roles and ActAs grants, and its grant on the environment's bucket.
    props.runsAs.runs(this.environment, [props.bucket]);
  }

  get airflowUri(): string { return this.environment.config.airflowUri; }
  get dagGcsPrefix(): string { return this.environment.config.dagGcsPrefix; }
}
