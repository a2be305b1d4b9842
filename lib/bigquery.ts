import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryDatasetIamMember } from '@cdktf/provider-google/lib/bigquery-dataset-iam-member';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { PREDICTIONS_TABLE, REJECTS_TABLE, TABLE_SCHEMAS } from './contract';
import { Principal } from './identity';
import { REASONS, suppressCheck } from './policy';

export interface ResultsDatasetProps {
  readonly projectId: string;
  readonly region: string;
  readonly datasetId: string;
  readonly labels: Record<string, string>;
  /** @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * The dataset the scoring job writes to, with `batch_predictions` and `batch_rejects`.
 *
 * Both tables are partitioned by day of `pipeline_execution_dt` and clustered by `pipeline_id`,
 * so the seed's `WHERE pipeline_id = ...` query and the job's delete-before-append read only
 * the blocks of one run. Destroy removes the dataset with its contents.
 */
export class ResultsDataset extends Construct {
  readonly dataset: BigqueryDataset;
  readonly tables: Readonly<Record<string, BigqueryTable>>;

  constructor(scope: Construct, id: string, props: ResultsDatasetProps) {
    super(scope, id);
    this.dataset = new BigqueryDataset(this, 'dataset', {
      project: props.projectId,
      datasetId: props.datasetId,
      location: props.region,
      description: 'Churn batch-scoring results of the s8s lab',
      deleteContentsOnDestroy: true,
      labels: props.labels,
      dependsOn: props.dependsOn,
    });
    suppressCheck(this.dataset, 'CKV_GCP_81', REASONS.googleManagedKeys);
    const tables: Record<string, BigqueryTable> = {};
    const descriptions: Record<string, string> = {
      [PREDICTIONS_TABLE]: 'One row per scored customer per scoring run (pipeline_id)',
      [REJECTS_TABLE]: 'Input rows a scoring run could not score, with the reason',
    };
    for (const [tableId, columns] of Object.entries(TABLE_SCHEMAS)) {
      tables[tableId] = new BigqueryTable(this, tableId, {
        project: props.projectId,
        datasetId: this.dataset.datasetId,
        tableId,
        description: descriptions[tableId],
        schema: JSON.stringify(columns),
        timePartitioning: { type: 'DAY', field: 'pipeline_execution_dt' },
        clustering: ['pipeline_id'],
        // Provider 6.x defaults this to true, which makes `cdktf destroy` fail on the table.
        deletionProtection: false,
        labels: props.labels,
      });
      suppressCheck(tables[tableId], 'CKV_GCP_80', REASONS.googleManagedKeys);
      suppressCheck(tables[tableId], 'CKV_GCP_121', REASONS.destroyable);
    }
    this.tables = tables;
  }

  /** Read tables and run queries over them (with a project-level jobUser grant). */
  grantRead(principal: Principal): BigqueryDatasetIamMember {
    return this.grant(principal, 'roles/bigquery.dataViewer');
  }

  /** Read, insert and delete rows. */
  grantWrite(principal: Principal): BigqueryDatasetIamMember {
    return this.grant(principal, 'roles/bigquery.dataEditor');
  }

  private grant(principal: Principal, role: string): BigqueryDatasetIamMember {
    return new BigqueryDatasetIamMember(this, `${principal.key}-${role.replace('roles/bigquery.', '')}`, {
      project: this.dataset.project,
      datasetId: this.dataset.datasetId,
      role,
      member: principal.member,
    });
  }
}
