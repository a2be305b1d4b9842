/**
 * What the person running `cdktf deploy` and `cdktf destroy` must be allowed to do, per resource
 * type the stack creates (test/preflight.test.ts checks every synthesized type has an entry, and
 * every name is a permission of Google's predefined roles). Each is a project-level permission, so
 * projects.testIamPermissions can answer for all of them. Long-running creates and deletes return
 * an operation the provider polls until done, which takes the API's own operations.get.
 * Permission names: https://cloud.google.com/iam/docs/permissions-reference.
 */
export const DEPLOY_PERMISSIONS: Readonly<Record<string, readonly string[]>> = {
  // Enabling a service is an operation; the provider also reads the project it enables it in.
  google_project_service: [
    'serviceusage.services.enable', 'serviceusage.services.get', 'serviceusage.services.list', 'serviceusage.operations.get',
    'resourcemanager.projects.get',
  ],
  // Global resources: their operations are global operations.
  google_compute_network: ['compute.networks.create', 'compute.networks.get', 'compute.networks.delete', 'compute.globalOperations.get'],
  google_compute_subnetwork: ['compute.subnetworks.create', 'compute.subnetworks.get', 'compute.subnetworks.delete', 'compute.regionOperations.get'],
  // A firewall rule changes its network's policy.
  google_compute_firewall: [
    'compute.firewalls.create', 'compute.firewalls.get', 'compute.firewalls.delete', 'compute.networks.updatePolicy', 'compute.globalOperations.get',
  ],
  google_service_account: ['iam.serviceAccounts.create', 'iam.serviceAccounts.get', 'iam.serviceAccounts.delete'],
  google_service_account_iam_member: ['iam.serviceAccounts.getIamPolicy', 'iam.serviceAccounts.setIamPolicy'],
  google_project_iam_member: ['resourcemanager.projects.getIamPolicy', 'resourcemanager.projects.setIamPolicy'],
  // force_destroy lists and deletes the objects before the bucket.
  google_storage_bucket: [
    'storage.buckets.create', 'storage.buckets.get', 'storage.buckets.update', 'storage.buckets.delete',
    'storage.objects.list', 'storage.objects.delete',
  ],
  google_storage_bucket_iam_member: ['storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy'],
  google_storage_bucket_object: ['storage.objects.create', 'storage.objects.get', 'storage.objects.delete'],
  google_bigquery_dataset: ['bigquery.datasets.create', 'bigquery.datasets.get', 'bigquery.datasets.delete'],
  // The provider edits the dataset's access list.
  google_bigquery_dataset_iam_member: ['bigquery.datasets.get', 'bigquery.datasets.update'],
  google_bigquery_table: ['bigquery.tables.create', 'bigquery.tables.get', 'bigquery.tables.update', 'bigquery.tables.delete'],
  // Creating an environment or a cluster that runs as a service account needs ActAs on it.
  google_composer_environment: [
    'composer.environments.create', 'composer.environments.get', 'composer.environments.delete', 'composer.operations.get',
    'iam.serviceAccounts.actAs',
  ],
  google_dataproc_cluster: [
    'dataproc.clusters.create', 'dataproc.clusters.get', 'dataproc.clusters.delete', 'dataproc.operations.get', 'iam.serviceAccounts.actAs',
  ],
  // hashicorp/time: no Google Cloud call.
  time_sleep: [],
};

/** Every permission above, once, sorted. */
export function deployPermissions(): string[] {
  return [...new Set(Object.values(DEPLOY_PERMISSIONS).flat())].sort();
}
