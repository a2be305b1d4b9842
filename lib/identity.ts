import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { DataGoogleProject } from '@cdktf/provider-google/lib/data-google-project';
import { suppressCheck } from './policy';

/** A service account and the IAM member string that names it. */
export interface Principal {
  /** Short name used in construct ids, e.g. "lab" or "spark". */
  readonly key: string;
  readonly account: ServiceAccount;
  readonly member: string;
}

/**
 * Project-level roles. Only roles that have no narrower scope are granted here; bucket and
 * dataset roles are granted by the constructs that own those resources.
 */
export const PROJECT_ROLES: Readonly<Record<'lab' | 'spark', readonly string[]>> = {
  // The Composer environment's account: run Airflow, submit and watch batches (batches have no
  // resource-level IAM), run the row-count check query.
  lab: ['roles/composer.worker', 'roles/dataproc.editor', 'roles/bigquery.jobUser'],
  // The account batches and the history server run as. Without dataproc.worker the driver
  // never starts ("Driver compute node failed to initialize ... 600 seconds").
  spark: ['roles/dataproc.worker', 'roles/bigquery.jobUser'],
};

export interface IdentityProps {
  readonly projectId: string;
  readonly labAccountId: string;
  readonly sparkAccountId: string;
  /** Resources to create first (the IAM and Composer APIs). @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * Two least-privilege accounts: `lab` runs the Composer environment and submits batches,
 * `spark` runs the batches and the history server. `lab` may act as `spark` and nothing else.
 */
export class Identity extends Construct {
  readonly lab: Principal;
  readonly spark: Principal;
  /** Grants the Composer environment needs before it is created. */
  readonly composerPrerequisites: ITerraformDependable[] = [];
  /** Grants the batches and the history server need. */
  readonly sparkPrerequisites: ITerraformDependable[] = [];

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
            'roles/composer.worker is the role Composer requires of the environment\'s account and exists only at ' +
            'project level; it lets the environment run its workloads as that same account, nothing more.');
        }
        (p.key === 'lab' ? this.composerPrerequisites : this.sparkPrerequisites).push(grant);
      }
    }

    // ActAs: the environment submits batches that run as the spark account.
    this.composerPrerequisites.push(
      new ServiceAccountIamMember(this, 'lab-acts-as-spark', {
        serviceAccountId: this.spark.account.name,
        role: 'roles/iam.serviceAccountUser',
        member: this.lab.member,
      }),
    );

    // Composer's service agent must manage the environment's account. Scoped to that account
    // instead of the project. The project number is looked up, never asked of the user.
    const project = new DataGoogleProject(this, 'project', { projectId: props.projectId });
    this.composerPrerequisites.push(
      new ServiceAccountIamMember(this, 'composer-agent-v2ext', {
        serviceAccountId: this.lab.account.name,
        role: 'roles/composer.ServiceAgentV2Ext',
        member: `serviceAccount:service-${project.number}@cloudcomposer-accounts.iam.gserviceaccount.com`,
        dependsOn: props.dependsOn,
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
    return { key, account, member: `serviceAccount:${account.email}` };
  }
}
