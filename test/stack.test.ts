import * as fs from 'fs';
import * as path from 'path';
import { AIRFLOW_VARIABLES, JOB_TABLES, OPTIONAL_AIRFLOW_VARIABLES, TABLE_SCHEMAS } from '../lib/contract';
import { DEFAULT_COMPOSER_IMAGE } from '../lib/config';
import { SPARK_RUNTIME_VERSION } from '../lib/versions';
import { LAB_APIS } from '../lib/services';
import { Testing } from 'cdktf';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { Sleep } from '@cdktf/provider-time/lib/sleep';
import { Principal } from '../lib/identity';
import { LabBucket } from '../lib/storage';
import {
  addresses, addressOf, bucketPurposes, DEMO_ENV, describeAddress, directDependencies, Json, refId, resourcesOf, single,
  synthLab, waitsFor,
} from './helpers';

const REPO = path.resolve(__dirname, '..');
const stack = synthLab();

describe('services', () => {
  test('every lab API is enabled and stays enabled on destroy', () => {
    const services = Object.values(resourcesOf(stack, 'google_project_service'));
    expect(services.map((s) => s.service).sort()).toEqual([...LAB_APIS].sort());
    for (const s of services) {
      expect(s.disable_on_destroy).toBe(false);
      expect(s.disable_dependent_services).toBe(false);
    }
  });
});

describe('network', () => {
  test('custom VPC, subnet with Private Google Access, all protocols within the subnet', () => {
    expect(single(stack, 'google_compute_network')).toMatchObject({ name: 's8s-vpc', auto_create_subnetworks: false });
    expect(single(stack, 'google_compute_subnetwork')).toMatchObject({
      name: 's8s-subnet', region: 'us-central1', ip_cidr_range: '10.10.0.0/24', private_ip_google_access: true,
    });
    expect(single(stack, 'google_compute_firewall')).toMatchObject({
      direction: 'INGRESS', source_ranges: ['10.10.0.0/24'], allow: [{ protocol: 'all' }],
    });
  });
});

describe('storage', () => {
  const buckets = resourcesOf(stack, 'google_storage_bucket');
  test('one bucket per purpose, deterministic names, secure defaults, destroyable', () => {
    expect(Object.values(buckets).map((b) => b.name).sort()).toEqual(
      ['code', 'composer-airflow3', 'data', 'models', 'phs', 'spark'].map((p) => `s8s-demo-proj-${p}`),
    );
    for (const b of Object.values(buckets)) {
      expect(b).toMatchObject({
        location: 'US-CENTRAL1', storage_class: 'STANDARD', uniform_bucket_level_access: true,
        public_access_prevention: 'enforced', force_destroy: true,
      });
      expect(b.labels).toMatchObject({ lab: 's8s-scoring-lab', prefix: 's8s', purpose: expect.any(String) });
      expect(b.name.length).toBeLessThanOrEqual(63);
    }
  });

  test('uploads: DAGs to the environment bucket, jobs to code, samples to data, every file', () => {
    const purposes = bucketPurposes(stack);
    const objects = Object.values(resourcesOf(stack, 'google_storage_bucket_object')).map((o) => ({
      purpose: purposes[refId(o.bucket)], name: o.name as string, source: o.source as string,
    }));
    const expected = [
      ...fs.readdirSync(path.join(REPO, 'airflow/dags')).filter((f) => /\.(py|json)$/.test(f)).map((f) => ['composer', `dags/${f}`]),
      ...fs.readdirSync(path.join(REPO, 'pyspark')).filter((f) => f.endsWith('.py')).map((f) => ['code', `pyspark/${f}`]),
      ['code', 'pyspark/s8s_churn.zip'], // the jobs' package, one archive (test/archive.test.ts)
      ...fs.readdirSync(path.join(REPO, 'pyspark/data')).filter((f) => f.endsWith('.csv')).map((f) => ['data', `data/${f}`]),
    ];
    expect(objects.map((o) => [o.purpose, o.name]).sort()).toEqual(expected.sort());
    expect(objects.map((o) => o.name)).toEqual(expect.arrayContaining([
      'dags/customer_churn_prediction.py', 'dags/customer_churn_training.py', 'dags/batch_size.json', 'dags/connectors.json',
      'pyspark/batch_scoring.py', 'pyspark/s8s_churn.zip', 'data/scoring.csv', 'data/training.csv',
    ]));
    for (const o of objects) expect(o.source).toMatch(/^assets\/[^/]+\/[0-9A-F]{32,}\/[^/]+$/i);
  });
});

describe('bigquery', () => {
  test('dataset customer_churn_ds is emptied on destroy', () => {
    expect(single(stack, 'google_bigquery_dataset')).toMatchObject({
      dataset_id: 'customer_churn_ds', location: 'us-central1', delete_contents_on_destroy: true,
    });
  });

  test('tables carry the schema the job writes, partitioned and clustered for the pipeline_id query', () => {
    const tables = resourcesOf(stack, 'google_bigquery_table');
    const byId = Object.fromEntries(Object.values(tables).map((t) => [t.table_id, t]));
    expect(Object.keys(byId).sort()).toEqual(['batch_drift', 'batch_predictions', 'batch_rejects', 'batch_runs', 'model_versions']);
    // model_versions is external (test/bigquery.test.ts); the job's tables are native.
    for (const tableId of JOB_TABLES) {
      const t = byId[tableId];
      expect(JSON.parse(t.schema)).toEqual(TABLE_SCHEMAS[tableId]);
      expect(t.deletion_protection).toBe(false);
      expect(t.time_partitioning).toEqual({ type: 'DAY', field: 'pipeline_execution_dt' });
      expect(t.clustering).toEqual(['pipeline_id']);
    }
    const columns = TABLE_SCHEMAS.batch_predictions.map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining([
      'customer_id', 'tenure_group', 'total_charges', 'prediction', 'model_version', 'pipeline_id', 'pipeline_execution_dt',
    ]));
  });
});

describe('history server', () => {
  const cluster = single(stack, 'google_dataproc_cluster');
  test('single node, cheapest valid machine, small disk, internal IPs, runtime 2.3 image', () => {
    const cfg = cluster.cluster_config;
    expect(cluster.name).toBe('s8s-phs');
    expect(cfg.master_config).toEqual({
      num_instances: 1, machine_type: 'e2-standard-2', disk_config: { boot_disk_type: 'pd-standard', boot_disk_size_gb: 35 },
    });
    expect(cfg.worker_config).toBeUndefined();
    expect(cfg.software_config.image_version).toBe('2.3-debian12');
    expect(cfg.gce_cluster_config.internal_ip_only).toBe(true);
    expect(cfg.endpoint_config.enable_http_port_access).toBe(true);
  });

  test('reads event logs from the PHS bucket and stages in the lab bucket', () => {
    const cfg = cluster.cluster_config;
    const purposes = bucketPurposes(stack);
    expect(cfg.software_config.override_properties).toEqual({
      'dataproc:dataproc.allow.zero.workers': 'true',
      'spark:spark.history.fs.logDirectory': expect.stringMatching(/^gs:\/\/\$\{google_storage_bucket\.(.+)\.name\}\/\*\/spark-job-history$/),
    });
    const logBucket = /\.([^.]+)\.name/.exec(cfg.software_config.override_properties['spark:spark.history.fs.logDirectory'])![1];
    expect(purposes[logBucket]).toBe('phs');
    expect(purposes[refId(cfg.staging_bucket)]).toBe('spark');
    expect(purposes[refId(cfg.temp_bucket)]).toBe('spark');
  });
});

describe('composer', () => {
  const env = single(stack, 'google_composer_environment');
  test('Composer 3, small, the lab account, the lab bucket, no PyPI packages', () => {
    expect(env.name).toBe('s8s-composer-airflow3');
    expect(env.config.software_config.image_version).toBe('composer-3-airflow-3.3.1-build.10');
    expect(env.config.software_config.image_version).toBe(DEFAULT_COMPOSER_IMAGE);
    expect(env.config.software_config.pypi_packages).toBeUndefined();
    expect(env.config.environment_size).toBe('ENVIRONMENT_SIZE_SMALL');
    const lab = Object.entries(resourcesOf(stack, 'google_service_account')).find(([, sa]) => sa.account_id === 's8s-lab-sa')!;
    expect(env.config.node_config.service_account).toBe(`\${google_service_account.${lab[0]}.email}`);
    expect(bucketPurposes(stack)[refId(env.storage_config.bucket)]).toBe('composer');
    // Composer-2-only fields are refused by Composer 3.
    for (const field of ['private_environment_config', 'master_authorized_networks_config']) expect(env.config[field]).toBeUndefined();
    expect(env.config.node_config.ip_allocation_policy).toBeUndefined();
  });

  test('sets every required variable the DAGs read, as AIRFLOW_VAR_*, and nothing reserved', () => {
    const vars = env.config.software_config.env_variables as Record<string, string>;
    // The optional one (custom image) is unset by default: left out, not set to "".
    const required = Object.keys(AIRFLOW_VARIABLES).filter((k) => !OPTIONAL_AIRFLOW_VARIABLES.includes(k));
    expect(Object.keys(vars).sort()).toEqual(required.map((k) => `AIRFLOW_VAR_${k.toUpperCase()}`).sort());
    for (const name of Object.keys(vars)) {
      expect(name).toMatch(/^AIRFLOW_VAR_[A-Z0-9_]+$/);
      expect(name).not.toMatch(/^(COMPOSER_|AIRFLOW_HOME$|PATH$|PORT$|PROJECT_ID$|GCP_PROJECT$)/);
    }
    expect(vars).toMatchObject({
      AIRFLOW_VAR_PROJECT_ID: 'demo-proj', AIRFLOW_VAR_REGION: 'us-central1', AIRFLOW_VAR_PHS_SERVER: 's8s-phs',
      AIRFLOW_VAR_BQ_DATASET: 'customer_churn_ds', AIRFLOW_VAR_MODEL_VERSION: 'latest', AIRFLOW_VAR_SPARK_RUNTIME_VERSION: SPARK_RUNTIME_VERSION,
    });
  });

  test('variables that name resources are the names those resources get, known at synth', () => {
    const vars = env.config.software_config.env_variables as Record<string, string>;
    // No ${...}: a reference would make the environment wait for what it names.
    expect(Object.entries(vars).filter(([, value]) => value.includes('${'))).toEqual([]);
    const subnet = single(stack, 'google_compute_subnetwork');
    expect(vars.AIRFLOW_VAR_SUBNET).toBe(`projects/${subnet.project}/regions/${subnet.region}/subnetworks/${subnet.name}`);
    const spark = Object.values(resourcesOf(stack, 'google_service_account')).find((sa) => sa.account_id === 's8s-spark-sa')!;
    expect(vars.AIRFLOW_VAR_UMSA_FQN).toBe(`${spark.account_id}@${spark.project}.iam.gserviceaccount.com`);
    const bucketByPurpose = Object.fromEntries(
      Object.values(resourcesOf(stack, 'google_storage_bucket')).map((b) => [b.labels.purpose, b.name]),
    );
    expect(vars).toMatchObject({
      AIRFLOW_VAR_CODE_BUCKET: bucketByPurpose.code, AIRFLOW_VAR_DATA_BUCKET: bucketByPurpose.data,
      AIRFLOW_VAR_MODEL_BUCKET: bucketByPurpose.models, AIRFLOW_VAR_SPARK_BUCKET: bucketByPurpose.spark,
    });
    const cluster = single(stack, 'google_dataproc_cluster');
    expect(vars.AIRFLOW_VAR_PHS_SERVER).toBe(cluster.name);
  });
});

describe('changing the Airflow line of a deployed lab', () => {
  // The google provider (google/services/composer/resource_composer_environment.go): `name`,
  // `project` and `region` are ForceNew, image_version is not. So a change within a line (a newer
  // build, the alias) must move image_version alone, an in-place upgrade, and a change of major
  // line must move the name, a replacement, created before the old environment is destroyed.
  const FORCE_NEW = ['name', 'project', 'region'];
  const NODE_FORCE_NEW = ['service_account', 'zone', 'machine_type', 'disk_size_gb', 'oauth_scopes', 'tags', 'ip_allocation_policy'];
  const environmentOf = (image: string) => single(synthLab({ ...DEMO_ENV, S8S_COMPOSER_IMAGE: image }), 'google_composer_environment');
  const withoutImage = (env: Json) => ({ ...env, config: { ...env.config, software_config: { ...env.config.software_config, image_version: undefined } } });

  test.each([
    ['composer-3-airflow-3.3.1-build.10', 'composer-3-airflow-3.3.1-build.12'],
    ['composer-3-airflow-3.3.1-build.10', 'composer-3-airflow-3.3.1'],
    ['composer-3-airflow-2.11.1-build.14', 'composer-3-airflow-2.11.1-build.15'],
  ])('%s -> %s (same line) changes only config.software_config.image_version', (from, to) => {
    const before = environmentOf(from);
    const after = environmentOf(to);
    expect(after.config.software_config.image_version).toBe(to);
    for (const k of FORCE_NEW) expect(after[k]).toEqual(before[k]);
    for (const k of NODE_FORCE_NEW) expect(after.config.node_config[k]).toEqual(before.config.node_config[k]);
    expect(withoutImage(after)).toEqual(withoutImage(before));
  });

  test('each major line synthesizes its own environment and bucket, replaced create-before-destroy', () => {
    const lines = {
      airflow3: synthLab({ ...DEMO_ENV, S8S_COMPOSER_IMAGE: 'composer-3-airflow-3.3.1-build.10' }),
      airflow2: synthLab({ ...DEMO_ENV, S8S_COMPOSER_IMAGE: 'composer-3-airflow-2.11.1-build.14' }),
    };
    for (const [line, synth] of Object.entries(lines)) {
      const env = single(synth, 'google_composer_environment');
      const composerBucket = Object.entries(resourcesOf(synth, 'google_storage_bucket')).find(([, b]) => b.labels.purpose === 'composer')!;
      expect({
        name: env.name,
        image: env.config.software_config.image_version,
        bucket: composerBucket[1].name,
        envLifecycle: env.lifecycle,
        bucketLifecycle: composerBucket[1].lifecycle,
      }).toEqual({
        name: `s8s-composer-${line}`,
        image: line === 'airflow3' ? 'composer-3-airflow-3.3.1-build.10' : 'composer-3-airflow-2.11.1-build.14',
        bucket: `s8s-demo-proj-composer-${line}`,
        envLifecycle: { create_before_destroy: true },
        bucketLifecycle: { create_before_destroy: true },
      });
      // The environment uses the bucket of its own line; DAGs are uploaded there.
      expect(env.storage_config.bucket).toBe(`\${google_storage_bucket.${composerBucket[0]}.name}`);
      const dagUploads = Object.values(resourcesOf(synth, 'google_storage_bucket_object')).filter((o) => String(o.name).startsWith('dags/'));
      expect(dagUploads.length).toBeGreaterThan(0);
      for (const o of dagUploads) expect(o.bucket).toBe(`\${google_storage_bucket.${composerBucket[0]}.name}`);
      // Buckets that hold the lab's data are not replaced with the line.
      const others = Object.values(resourcesOf(synth, 'google_storage_bucket')).filter((b) => b.labels.purpose !== 'composer');
      for (const b of others) expect(b.name).not.toMatch(/airflow/);
    }
    // Everything except the Composer pair is the same for both lines: a line change keeps the
    // buckets, the dataset and its tables, the accounts and the history server.
    const stateful = ['google_bigquery_dataset', 'google_bigquery_table', 'google_dataproc_cluster', 'google_service_account', 'google_compute_subnetwork'];
    for (const type of stateful) expect(resourcesOf(lines.airflow2, type)).toEqual(resourcesOf(lines.airflow3, type));
    const dataBuckets = (synth: Json) => Object.fromEntries(Object.entries(resourcesOf(synth, 'google_storage_bucket')).filter(([, b]) => b.labels.purpose !== 'composer'));
    expect(dataBuckets(lines.airflow2)).toEqual(dataBuckets(lines.airflow3));
    // Other buckets keep no create_before_destroy: only the Composer pair is replaced.
    for (const b of Object.values(dataBuckets(lines.airflow3))) expect(b.lifecycle).toBeUndefined();
  });
});

describe('ordering', () => {
  const names = (set: Set<string>) => [...set].map(describeAddress).sort();
  const composer = addressOf(stack, 'google_composer_environment composer_environment');
  const cluster = addressOf(stack, 'google_dataproc_cluster history_cluster');
  const iamWait = addressOf(stack, 'time_sleep history_iam-propagation');
  const subnetWait = addressOf(stack, 'time_sleep network_subnet-release');
  const apis = LAB_APIS.map((api) => `google_project_service services_${api.split('.')[0]}`);

  test('Composer, the critical path, waits for the APIs, its account, its grants and its bucket, nothing else', () => {
    expect(names(waitsFor(stack, composer))).toEqual([
      'google_project_iam_member identity_lab-bigqueryjobUser',
      'google_project_iam_member identity_lab-composerworker',
      'google_project_iam_member identity_lab-dataproceditor',
      ...apis,
      'google_service_account identity_lab-sa',
      // ActAs on the spark account is one of the environment's grants; it names that account.
      'google_service_account identity_spark-sa',
      // ActAs on itself: Composer 3 asks for it where constraints/gcp.resourceLocations is enforced.
      'google_service_account_iam_member identity_lab-acts-as-itself',
      'google_service_account_iam_member identity_lab-acts-as-spark',
      'google_storage_bucket storage_composer_bucket',
      'google_storage_bucket_iam_member storage_composer_lab-objectUser',
    ].sort());
  });

  test('the history server waits for IAM propagation after its account\'s grants; Composer does not', () => {
    expect(directDependencies(stack, cluster)).toContain(iamWait);
    expect(stack.resource.time_sleep[iamWait.split('.')[1]]).toMatchObject({ create_duration: '7m' });
    expect(names(directDependencies(stack, iamWait))).toEqual([
      'google_project_iam_member identity_spark-bigqueryjobUser',
      'google_project_iam_member identity_spark-dataprocworker',
      'google_storage_bucket_iam_member storage_phs_spark-objectUser',
      'google_storage_bucket_iam_member storage_spark_spark-objectUser',
    ]);
    expect(waitsFor(stack, composer)).not.toContain(iamWait);
    // Nothing else waits for the sleep, so it lengthens no other path.
    const waitingForSleep = [...addresses(stack)].filter((a) => waitsFor(stack, a).has(iamWait));
    expect(waitingForSleep).toEqual([cluster]);
  });

  test('the subnet\'s release wait runs on destroy only and nothing waits for it on create', () => {
    const sleep = stack.resource.time_sleep[subnetWait.split('.')[1]];
    expect(sleep.create_duration).toBeUndefined();
    expect(sleep.destroy_duration).toBe('10m');
    // Destroy reverses dependencies: the sleep depends on the subnet, so it is destroyed (waits)
    // before the subnet is deleted.
    expect(names(directDependencies(stack, subnetWait))).toEqual(['google_compute_subnetwork network_subnet']);
    expect([...addresses(stack)].filter((a) => waitsFor(stack, a).has(subnetWait))).toEqual([]);
  });

  test('Composer and the history server do not wait for each other', () => {
    expect(waitsFor(stack, composer)).not.toContain(cluster);
    expect(waitsFor(stack, cluster)).not.toContain(composer);
  });

  test('the time provider is pinned exactly, like the google provider', () => {
    expect(stack.terraform.required_providers.time).toEqual({ source: 'hashicorp/time', version: '0.13.1' });
  });
});

describe('grants carry their own dependencies (Principal.runs)', () => {
  // A resource that runs as an account waits for the grants it needs, whether they are made
  // before or after it says so, and for no grant on a resource it does not use.
  const synthesized = JSON.parse(Testing.synthScope((scope) => {
    const account = new ServiceAccount(scope, 'sa', { accountId: 'sa' });
    const principal = new Principal('spark', account);
    const bucket = (name: string) => new LabBucket(scope, name, { projectId: 'p', region: 'us-central1', name, labels: {} });
    const [used, unused] = [bucket('used'), bucket('unused')];
    used.grantRead(principal); // made before the resource says it needs it
    const runner = new Sleep(scope, 'runner', { createDuration: '1s' });
    principal.runs(runner, [used]);
    used.grantReadWrite(principal); // and after
    unused.grantReadWrite(principal);
    principal.granted(new ProjectIamMember(scope, 'role', { project: 'p', role: 'roles/dataproc.worker', member: principal.member }));
  }));
  test('the runner waits for its account-wide grant and its grants on the bucket it uses, only those', () => {
    const dependsOn = (synthesized.resource.time_sleep.runner.depends_on as string[]).map((d) => d.replace(/_[0-9A-F]{8}$/, ''));
    expect(dependsOn.sort()).toEqual([
      'google_project_iam_member.role', 'google_storage_bucket_iam_member.used_spark-objectUser',
      'google_storage_bucket_iam_member.used_spark-objectViewer',
    ]);
  });
});

describe('the stack reads like its diagram', () => {
  test('LabStack\'s constructor is under 60 lines', () => {
    const lines = fs.readFileSync(path.join(REPO, 'lib/stack.ts'), 'utf8').split('\n');
    const start = lines.findIndex((l) => /^\s+constructor\(scope: Construct, id: string, config: LabConfig\)/.test(l));
    const end = lines.findIndex((l, i) => i > start && l === '  }');
    expect(start).toBeGreaterThan(0);
    expect(end - start + 1).toBeLessThan(60);
  });
});

describe('Composer service agent', () => {
  test('gets no grant and the project number is not looked up (Composer 3 needs neither; lib/identity.ts)', () => {
    expect(stack.data).toBeUndefined();
    expect(JSON.stringify(stack)).not.toContain('cloudcomposer-accounts');
    expect(JSON.stringify(stack)).not.toContain('ServiceAgentV2Ext');
  });
});

describe('outputs', () => {
  test('UI addresses, buckets, the results query and the trigger commands', () => {
    expect(Object.keys(stack.output).sort()).toEqual([
      'airflow_ui', 'bucket_code', 'bucket_composer', 'bucket_data', 'bucket_models', 'bucket_phs', 'bucket_spark',
      'dag_folder', 'history_server_ui', 'results_query', 'score_command', 'train_command',
    ]);
    expect(stack.output.results_query.value).toBe(
      "SELECT * FROM `demo-proj.customer_churn_ds.batch_predictions` WHERE pipeline_id = 'PIPELINE_ID'",
    );
    expect(stack.output.score_command.value).toBe(
      'gcloud composer environments run s8s-composer-airflow3 --project demo-proj --location us-central1 dags trigger -- ' +
        'customer-churn-prediction --conf \'{"model_version": "latest"}\'',
    );
    expect(stack.output.history_server_ui.value).toContain('Spark History Server');
  });
});

describe('logical ids of stateful resources', () => {
  // Renaming one of these replaces the resource (and deletes its data) on the next deploy.
  test('are stable', () => {
    const ids = (type: string) => Object.keys(resourcesOf(stack, type)).sort();
    expect(ids('google_storage_bucket')).toEqual([
      'storage_code_bucket_A00965C9', 'storage_composer_bucket_EF81727F', 'storage_data_bucket_77B590E3',
      'storage_models_bucket_6F885890', 'storage_phs_bucket_92D2B696', 'storage_spark_bucket_69650DD3',
    ]);
    expect(ids('google_bigquery_dataset')).toEqual(['bigquery_dataset_EBB62DA7']);
    expect(ids('google_bigquery_table')).toEqual([
      'bigquery_batch_drift_C71FD7D6', 'bigquery_batch_predictions_DE99448A', 'bigquery_batch_rejects_52F24F4A', 'bigquery_batch_runs_851D2814',
      'bigquery_model_versions_875F739B',
    ]);
    expect(ids('google_dataproc_cluster')).toEqual(['history_cluster_44900294']);
    expect(ids('google_composer_environment')).toEqual(['composer_environment_85F4694A']);
    expect(ids('google_service_account')).toEqual(['identity_lab-sa_ABF72A13', 'identity_spark-sa_8219FB4C']);
  });
});

describe('configuration reaches the resources', () => {
  test('prefix, region, sizes and state backend', () => {
    const custom = synthLab({
      ...DEMO_ENV, S8S_PREFIX: 'team1', S8S_REGION: 'europe-west1', S8S_PHS_MACHINE_TYPE: 'n2-standard-2',
      S8S_PHS_DISK_GB: '50', S8S_COMPOSER_SIZE: 'ENVIRONMENT_SIZE_MEDIUM', S8S_STATE_BUCKET: 'my-tf-state',
      S8S_MODEL_VERSION: 'v1', S8S_SUBNET_CIDR: '192.168.8.0/24',
    });
    expect(single(custom, 'google_composer_environment')).toMatchObject({ name: 'team1-composer-airflow3', region: 'europe-west1' });
    expect(single(custom, 'google_composer_environment').config.environment_size).toBe('ENVIRONMENT_SIZE_MEDIUM');
    expect(single(custom, 'google_dataproc_cluster').cluster_config.master_config).toMatchObject({
      machine_type: 'n2-standard-2', disk_config: { boot_disk_size_gb: 50 },
    });
    expect(single(custom, 'google_compute_subnetwork').ip_cidr_range).toBe('192.168.8.0/24');
    expect(Object.values(resourcesOf(custom, 'google_storage_bucket')).map((b) => b.name)).toContain('team1-demo-proj-code');
    expect(single(custom, 'google_composer_environment').config.software_config.env_variables).toMatchObject({
      AIRFLOW_VAR_SUBNET: 'projects/demo-proj/regions/europe-west1/subnetworks/team1-subnet',
      AIRFLOW_VAR_UMSA_FQN: 'team1-spark-sa@demo-proj.iam.gserviceaccount.com',
      AIRFLOW_VAR_CODE_BUCKET: 'team1-demo-proj-code',
    });
    expect(custom.terraform.backend.gcs).toEqual({ bucket: 'my-tf-state', prefix: 's8s-scoring-lab/team1' });
    expect(stack.terraform.backend).toBeUndefined(); // default: local state file
  });
});

describe('full stack', () => {
  // Two snapshots, so that a change confined to the uploads shows as such: the restructure of
  // issue 19 (the jobs shipped as one archive, the contract beside the DAGs) had to leave the
  // first one byte for byte as it was, and changed only the second (git log -p on this file's
  // snapshot shows it).
  const { google_storage_bucket_object: objects, ...others } = stack.resource;
  test('snapshot of everything but the uploaded objects', () => {
    expect({ ...stack, resource: others }).toMatchSnapshot();
  });
  test('snapshot of the uploaded objects (asset hashes normalised)', () => {
    const text = JSON.stringify(objects, null, 2).replace(/(assets\/[^/"]+\/)[0-9A-F]{32,}\//gi, '$1HASH/');
    expect(JSON.parse(text)).toMatchSnapshot();
  });
});
