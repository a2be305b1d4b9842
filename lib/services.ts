import { Construct } from 'constructs';
import { ProjectService } from '@cdktf/provider-google/lib/project-service';

/** APIs the lab calls. */
export const LAB_APIS = [
  'bigquery.googleapis.com',
  'bigquerystorage.googleapis.com',
  'cloudresourcemanager.googleapis.com',
  'composer.googleapis.com',
  'compute.googleapis.com',
  'dataproc.googleapis.com',
  'iam.googleapis.com',
  'storage.googleapis.com',
] as const;

export interface ServicesProps {
  readonly projectId: string;
  /** @default - LAB_APIS */
  readonly apis?: readonly string[];
}

/**
 * Enables the lab's APIs. Destroy leaves them on: disabling an API breaks whatever else in the
 * project uses it, and an enabled API bills nothing by itself.
 */
export class Services extends Construct {
  readonly enabled: ProjectService[];

  constructor(scope: Construct, id: string, props: ServicesProps) {
    super(scope, id);
    this.enabled = (props.apis ?? LAB_APIS).map(
      (api) =>
        new ProjectService(this, api.split('.')[0], {
          project: props.projectId,
          service: api,
          disableOnDestroy: false,
          disableDependentServices: false,
        }),
    );
  }
}
