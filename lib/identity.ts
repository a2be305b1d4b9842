import { Construct } from 'constructs';
import { dependable, ITerraformDependable, TerraformResource } from 'cdktf';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { suppressCheck } from './policy';

/*
 * Composer's service agent (service-<number>@cloudcomposer-accounts.iam.gserviceaccount.com) gets
 * no grant from this stack.
 *
 * roles/composer.ServiceAgentV2Ext exists so that the agent can bind the environment's account
 * to the Kubernetes service accounts of a Composer 2 environment's GKE Autopilot cluster
 * (Workload Identity): https://cloud.google.com/composer/docs/composer-2/access-control, section
 * "Grant roles to the Cloud Composer Service Agent account"; the IAM roles page calls it "a
 * supplementary role required to manage Composer v2 environments"
 * (https://cloud.google.com/iam/docs/roles-permissions/composer). The Composer 3 version of the
 * same access-control page (https://cloud.google.com/composer/docs/composer-3/access-control)
 * says only that the agent holds the Cloud Composer API Service Agent role, granted when the API
 * is enabled, and must keep it; Composer 3 runs the environment's cluster outside the project,
 * and its "Create environments" page (https://cloud.google.com/composer/docs/composer-3/create-environments)
 * asks of a user-managed environment account only roles/composer.worker, plus
 * iam.serviceAccountUser on itself where the environment uses resource location restrictions
 * or installs PyPI packages from Artifact Registry (Step 1, item 3). The lab installs no
 * packages, but many organizations enforce constraints/gcp.resourceLocations, so the lab makes
 * that self-grant (Identity below): it costs nothing where the policy is absent.
 *
 * So the grant, the project-number lookup it needed (data.google_project, an API read at plan
 * time) and its race with the agent's creation (GoogleCloudPlatform/data-migration-tool PR #45,
 * terraform-google-modules/terraform-docs-samples PR #264) are gone.
 */

/**
 * A service account, the IAM member string that names it, and the grants made to it.
 *
 * Grants carry their own dependencies, as aws-cdk's do (its design guidelines; Grant.applyBefore):
 * a resource that runs as the account says so with `runs(resource, uses)`, and then waits for every
 * grant it needs, made before or after that call: the account's grants that hold wherever it runs
 * (project roles, ActAs) and its grants on the resources it uses (a bucket, the dataset). Nothing
 * threads grant lists by hand, and a grant added later reaches the resources that need it.
 */
export class Principal {
  readonly member: string;
  private readonly made: { grant: TerraformResource; on?: Construct }[] = [];
  private readonly runners: { resource: TerraformResource; uses: readonly Construct[] }[] = [];

  /** `key` is the short name used in construct ids, e.g. "lab" or "spark". */
  constructor(readonly key: string, readonly account: ServiceAccount) {
    this.member = `serviceAccount:${account.email}`;
  }

  /** Records a grant to this account: on the resource `on`, or (without it) wherever the account runs. */
  granted(grant: TerraformResource, on?: Construct): void {
    this.made.push({ grant, on });
    for (const r of this.runners) if (needs(r.uses, on)) waitFor(r.resource, grant);
  }

  /** `resource` acts as this account on `uses`: it is created after the grants that allow it. */
  runs(resource: TerraformResource, uses: readonly Construct[]): void {
    this.runners.push({ resource, uses });
    for (const m of this.made) if (needs(uses, m.on)) waitFor(resource, m.grant);
  }
}

const needs = (uses: readonly Construct[], on: Construct | undefined) => on === undefined || uses.includes(on);

function waitFor(resource: TerraformResource, grant: TerraformResource): void {
  resource.dependsOn = [...(resource.dependsOn ?? []), dependable(grant)];
}

/**
 * Project-level roles. Only roles that have no narrower scope are granted here; bucket and
 * dataset roles are granted by the constructs that own those resources.
 */
export const PROJECT_ROLES: Readonly<Record<'lab' | 'spark', readonly string[]>> = {
  // The Composer environment's account: run Airflow, submit and watch batches (batches have no
  // resource-level IAM), run the row-count check query.
  lab: ['roles/composer.worker', 'roles/dataproc.editor', 'roles/bigquery.jobUser'],
  // The account batches and the history server run as. Google requires roles/dataproc.worker of
  // a batch's service account (https://cloud.google.com/dataproc-serverless/docs/concepts/service-account);
  // without it the driver never starts ("Driver compute node failed to initialize ... 600 seconds").
  spark: ['roles/dataproc.worker', 'roles/bigquery.jobUser'],
};

/**
 * What each role the lab grants really allows, where it is granted. One entry per role; the
 * roles table of docs/iam.md is checked against these texts and the reviewed binding list
 * (test/policy.test.ts).
 *
 * Two project-level roles reach further than the per-bucket grants suggest, and the lab keeps
 * them on purpose. roles/dataproc.worker is what Google documents for a batch's account; it
 * includes storage.buckets.get and storage.objects.* at project level, so s8s-spark-sa can read,
 * write and delete the objects of every bucket in the project whatever the bucket grants say
 * (the same fact led magic-modules PR #10403 to rely on it for bucket access). A custom role with
 * a subset would be narrower, but Google documents no such subset for Dataproc Serverless and a
 * missing permission surfaces only as a batch whose driver times out after 600 s on a real
 * project, which nothing here can test; for a first deploy the documented role is the robust
 * choice. roles/composer.worker is the role Composer requires of the environment's account and
 * can only be granted on the project; its permission list
 * (https://cloud.google.com/iam/docs/roles-permissions/composer) holds storage.buckets.get, list
 * and create and storage.objects.* at project level, so s8s-lab-sa too reaches every bucket of
 * the project and its objectUser grant on the composer bucket narrows nothing. The bucket and
 * dataset grants stay: they state which data each account uses, and they keep working if a
 * narrower role replaces dataproc.worker or composer.worker.
 */
export const ROLE_REACH: Readonly<Record<string, string>> = {
  'roles/composer.worker':
    'Everything an environment\'s account needs to run Composer, at project level (not limited to this ' +
    'environment); Google requires it and offers no narrower scope. It includes storage.buckets.get, list and ' +
    'create and storage.objects.* on every bucket of the project: read, write and delete any object, so the ' +
    'composer bucket grant narrows nothing. Permission list: https://cloud.google.com/iam/docs/roles-permissions/composer',
  'roles/dataproc.editor':
    'Create, watch and delete Dataproc Serverless batches (batches have no resource-level IAM); being ' +
    'project-wide it also creates, updates and deletes any Dataproc cluster, job or workflow template in ' +
    'the project, the history server included',
  'roles/bigquery.jobUser':
    'Run BigQuery jobs billed to the project; reading or writing table data needs a dataset grant as well',
  'roles/iam.serviceAccountUser':
    'Act as the account it is granted on and no other: on s8s-spark-sa so that submitted batches run as it; on ' +
    's8s-lab-sa itself because Composer 3 asks for it where constraints/gcp.resourceLocations is enforced ' +
    '(https://cloud.google.com/composer/docs/composer-3/create-environments, Step 1, item 3)',
  'roles/dataproc.worker':
    'What a batch or cluster VM needs to run (Dataproc agent and task calls, logging, monitoring), plus ' +
    'storage.buckets.get and storage.objects.* on every bucket of the project: read, write and delete any object',
  'roles/storage.objectViewer': 'Read and list the objects of this bucket',
  'roles/storage.objectUser': 'Read, list, create, overwrite and delete the objects of this bucket',
  'roles/bigquery.dataViewer': 'Read the tables of this dataset and their data',
  'roles/bigquery.dataEditor': 'Read, insert, update and delete the data of this dataset\'s tables; create and delete its tables',
};

export interface IdentityProps {
  readonly projectId: string;
  readonly labAccountId: string;
  readonly sparkAccountId: string;
  /** Resources to create first (the IAM and Composer APIs). @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * Two accounts: `lab` runs the Composer environment and submits batches, `spark` runs the
 * batches and the history server. `lab` may act as `spark` and as itself (Composer asks for it), nothing else. What each role
 * reaches is stated in ROLE_REACH.
 */
export class Identity extends Construct {
  readonly lab: Principal;
  readonly spark: Principal;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    this.lab = this.principal('lab', props.labAccountId, 'Lab: Composer environment and batch submission', props);
    this.spark = this.principal('spark', props.sparkAccountId, 'Lab: Dataproc Serverless batches and history server', props);

    for (const p of [this.lab, this.spark]) {
      for (const role of PROJECT_ROLES[p.key as 'lab' | 'spark']) {
        const grant = new ProjectIamMember(this, `${p.key}-${role.replace('roles/', '')}`, {
          project: props.projectId,
          role,
          member: p.member,
        });
        if (role === 'roles/composer.worker') {
          suppressCheck(grant, 'CKV_GCP_49',
            'roles/composer.worker is the role Composer requires of the environment\'s account and can only be ' +
            'granted on the project; Google offers no narrower role for it. What it reaches is stated in ' +
            'lib/identity.ts ROLE_REACH and the README.');
        }
        p.granted(grant);
      }
    }

    // ActAs: the environment submits batches that run as the spark account.
    this.lab.granted(
      new ServiceAccountIamMember(this, 'lab-acts-as-spark', {
        serviceAccountId: this.spark.account.name,
        role: 'roles/iam.serviceAccountUser',
        member: this.lab.member,
      }),
    );
    // ActAs on itself: Composer 3's create page (Step 1, item 3) asks for it where the
    // organization enforces constraints/gcp.resourceLocations; the environment waits for it.
    this.lab.granted(
      new ServiceAccountIamMember(this, 'lab-acts-as-itself', {
        serviceAccountId: this.lab.account.name,
        role: 'roles/iam.serviceAccountUser',
        member: this.lab.member,
      }),
    );
  }

  private principal(key: string, accountId: string, displayName: string, props: IdentityProps): Principal {
    const account = new ServiceAccount(this, `${key}-sa`, {
      project: props.projectId,
      accountId,
      displayName,
      dependsOn: props.dependsOn,
    });
    return new Principal(key, account);
  }
}
