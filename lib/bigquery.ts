import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryDatasetIamMember } from '@cdktf/provider-google/lib/bigquery-dataset-iam-member';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import {
  DRIFT_TABLE, JOB_TABLES, MODEL_METADATA_PATTERN, MODEL_VERSIONS_TABLE, PREDICTIONS_TABLE, REJECTS_TABLE, RUNS_TABLE,
  TABLE_SCHEMAS,
} from './contract';
import { Principal } from './identity';
import { REASONS, suppressCheck } from './policy';

export interface ResultsDatasetProps {
  readonly projectId: string;
  readonly region: string;
  readonly datasetId: string;
  readonly labels: Record<string, string>;
  /** Bucket of the model registry; `model_versions` reads its `churn-model/<version>/metadata.json` files. */
  readonly modelsBucket: string;
  /** @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * The dataset the scoring job writes to, with `batch_predictions`, `batch_rejects` and
 * `batch_runs`, and `model_versions`, the model registry as a table.
 *
 * The job's tables are partitioned by day of `pipeline_execution_dt` and clustered by
 * `pipeline_id`, so the seed's `WHERE pipeline_id = ...` query, the job's delete-before-append
 * and the check task's reconciliation read only the blocks of one run. Destroy removes the
 * dataset with its contents.
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
      [RUNS_TABLE]: 'One row per scoring run: its batch, model, input and counts (read = scored + rejected)',
      [DRIFT_TABLE]: 'One row per scoring run and feature: PSI and Jensen-Shannon distance against the model version\'s training baseline',
    };
    for (const tableId of JOB_TABLES) {
      tables[tableId] = new BigqueryTable(this, tableId, {
        project: props.projectId,
        datasetId: this.dataset.datasetId,
        tableId,
        description: descriptions[tableId],
        schema: JSON.stringify(TABLE_SCHEMAS[tableId]),
        timePartitioning: { type: 'DAY', field: 'pipeline_execution_dt' },
        clustering: ['pipeline_id'],
        // Provider 6.x defaults this to true, which makes `cdktf destroy` fail on the table.
        deletionProtection: false,
        labels: props.labels,
      });
    }
    // The registry's own files, read in place: no copy to keep in sync, and a version appears
    // once training wrote its metadata.json (last, so an interrupted training never shows).
    // - One '*' per source URI, after the bucket name (ExternalDataConfiguration.sourceUris,
    //   https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#ExternalDataConfiguration).
    // - Newline-delimited JSON, one object per line, TIMESTAMP as `YYYY-MM-DD hh:mm:ss+00:00`
    //   (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json).
    // - The models bucket is in the dataset's region, as an external table over Cloud Storage
    //   needs, and whoever queries the table needs read access to the bucket's objects
    //   (https://cloud.google.com/bigquery/docs/external-data-cloud-storage).
    // - The schema goes in external_data_configuration: JSON sources without autodetect need it
    //   there (provider 6.50.0 bigquery_table docs, external_data_configuration.schema).
    // - Unknown keys are bad records and none are allowed: a metadata file that drifts from the
    //   schema fails the query instead of silently losing a field (the registry checks it too).
    // - A change of external_data_configuration.schema replaces this table (the provider marks it
    //   ForceNew: google_bigquery_table docs, "any changes on the configured value will force the
    //   table to be recreated"). It holds no rows of its own, so a replacement loses nothing: the
    //   metadata files stay in the bucket. The job's native tables only ever gain NULLABLE columns
    //   at the end, which the provider applies in place (resourceBigQueryTableSchemaIsChangeable).
    tables[MODEL_VERSIONS_TABLE] = new BigqueryTable(this, MODEL_VERSIONS_TABLE, {
      project: props.projectId,
      datasetId: this.dataset.datasetId,
      tableId: MODEL_VERSIONS_TABLE,
      description: 'Every registered model version: training time, training input, held-out metrics (reads the models bucket)',
      externalDataConfiguration: {
        sourceFormat: 'NEWLINE_DELIMITED_JSON',
        sourceUris: [`gs://${props.modelsBucket}/${MODEL_METADATA_PATTERN}`],
        autodetect: false,
        schema: JSON.stringify(TABLE_SCHEMAS[MODEL_VERSIONS_TABLE]),
        ignoreUnknownValues: false,
        maxBadRecords: 0,
      },
      deletionProtection: false,
      labels: props.labels,
    });
    for (const table of Object.values(tables)) {
      suppressCheck(table, 'CKV_GCP_80', REASONS.googleManagedKeys);
      suppressCheck(table, 'CKV_GCP_121', REASONS.destroyable);
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
    const member = new BigqueryDatasetIamMember(this, `${principal.key}-${role.replace('roles/bigquery.', '')}`, {
      project: this.dataset.project,
      datasetId: this.dataset.datasetId,
      role,
      member: principal.member,
    });
    principal.granted(member, this);
    return member;
  }
}
