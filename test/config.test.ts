import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import composerImages from '../airflow/composer_images.json';
import {
  composerLineOf, ConfigError, DEFAULT_COMPOSER_IMAGE, loadConfig, PLACEHOLDER_PROJECT, SETTINGS, SMALLEST_SUBNET_BITS,
  SUBNET_ADDRESSES_NEEDED, TESTED_COMPOSER_IMAGES,
} from '../lib/config';

describe('configuration defaults', () => {
  test('no configuration at all gives a complete, placeholder configuration', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      projectId: PLACEHOLDER_PROJECT,
      projectIsPlaceholder: true,
      region: 'us-central1',
      prefix: 's8s',
      composerImage: 'composer-3-airflow-3.3.1-build.10',
      composerSize: 'ENVIRONMENT_SIZE_SMALL',
      subnetCidr: '10.10.0.0/24',
      phsMachineType: 'e2-standard-2',
      phsDiskGb: 35,
      modelVersion: 'latest',
      containerImage: '',
      stateBucket: '',
      budgetBillingAccount: '',
      budgetAmount: 0,
      budgetEmail: '',
    });
  });

  test('an empty variable means unset', () => {
    expect(loadConfig({ S8S_REGION: '', GOOGLE_CLOUD_PROJECT: 'demo-proj' }).region).toBe('us-central1');
    expect(loadConfig({ GOOGLE_CLOUD_PROJECT: 'demo-proj' }).projectIsPlaceholder).toBe(false);
  });
});

// [setting, bad value]: each must fail with a message that names the setting and the value.
const BAD: Array<[string, unknown]> = [
  ['GOOGLE_CLOUD_PROJECT', 'My-Project'],
  ['GOOGLE_CLOUD_PROJECT', 'abc'],
  ['GOOGLE_CLOUD_PROJECT', 'a'.repeat(31)],
  ['GOOGLE_CLOUD_PROJECT', '1project'],
  ['GOOGLE_CLOUD_PROJECT', 'project-'],
  ['GOOGLE_CLOUD_PROJECT', 'example.com:proj'],
  ['GOOGLE_CLOUD_PROJECT', 'my_project'],
  ['GOOGLE_CLOUD_PROJECT', ' my-project'],
  ['GOOGLE_CLOUD_PROJECT', 'my-projéct'],
  ['GOOGLE_CLOUD_PROJECT', 'google-lab-1'],
  ['GOOGLE_CLOUD_PROJECT', '   '],
  ['S8S_REGION', 'mars-north1'],
  ['S8S_REGION', 'US-CENTRAL1'],
  ['S8S_REGION', 'us-central'],
  ['S8S_REGION', 'us-central1 '],
  ['S8S_REGION', 'us-ceñtral1'],
  ['S8S_PREFIX', 'S8S'],
  ['S8S_PREFIX', 'a'],
  ['S8S_PREFIX', 'toolongprefix1'],
  ['S8S_PREFIX', 's8s-'],
  ['S8S_PREFIX', '1ab'],
  ['S8S_PREFIX', 's8s_lab'],
  ['S8S_PREFIX', '\t'],
  // Cloud Storage refuses bucket names starting with "goog" or containing "google" or a close misspelling.
  ['S8S_PREFIX', 'goog'],
  ['S8S_PREFIX', 'googlab'],
  ['S8S_PREFIX', 'my-google'],
  ['S8S_PREFIX', 'lab-g00gle'],
  ['GOOGLE_CLOUD_PROJECT', 'team-go0gle-lab'],
  ['GOOGLE_CLOUD_PROJECT', 'goog-lab-1'],
  ['S8S_COMPOSER_IMAGE', 'composer-2-airflow-2.10.5'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3'],
  ['S8S_COMPOSER_IMAGE', 'latest'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-2.10.5'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-2.10.5-build.16'],
  // 3.2.2: dropped (docs/composer-lines.md); 3.3.1 is the Airflow 3 line now.
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.2.2'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.2.2-build.4'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.3.1-build'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.3.1-build.x'],
  ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.3.1 '],
  ['S8S_COMPOSER_SIZE', 'SMALL'],
  ['S8S_COMPOSER_SIZE', 'environment_size_small'],
  ['S8S_SUBNET_CIDR', '10.10.0.0'],
  ['S8S_SUBNET_CIDR', '10.10.0.0/33'],
  ['S8S_SUBNET_CIDR', '8.8.8.0/24'],
  ['S8S_SUBNET_CIDR', '10.10.0.1/24'],
  ['S8S_SUBNET_CIDR', '10.0.0.0/8'],
  ['S8S_SUBNET_CIDR', '300.1.1.0/24'],
  ['S8S_SUBNET_CIDR', '10.10.0.0/30x'],
  // 4 usable addresses: one batch and the history server, not two batches at once.
  ['S8S_SUBNET_CIDR', '10.10.0.0/29'],
  ['S8S_PHS_MACHINE_TYPE', 'e2-small'],
  ['S8S_PHS_MACHINE_TYPE', 'n1-standard-1'],
  ['S8S_PHS_MACHINE_TYPE', 'E2-STANDARD-2'],
  ['S8S_PHS_MACHINE_TYPE', 'e2 standard 2'],
  ['S8S_PHS_DISK_GB', '29'],
  ['S8S_PHS_DISK_GB', '1001'],
  ['S8S_PHS_DISK_GB', '35.5'],
  ['S8S_PHS_DISK_GB', 'abc'],
  ['S8S_PHS_DISK_GB', '-40'],
  ['S8S_PHS_DISK_GB', '1e3'],
  ['S8S_PHS_DISK_GB', 35],
  ['S8S_MODEL_VERSION', 'Latest'],
  ['S8S_MODEL_VERSION', 'v 1'],
  ['S8S_MODEL_VERSION', '-v1'],
  ['S8S_MODEL_VERSION', 'a'.repeat(64)],
  ['S8S_CONTAINER_IMAGE', 'docker.io/library/spark:3'],
  ['S8S_CONTAINER_IMAGE', 'not an image'],
  ['S8S_STATE_BUCKET', 'UPPER-bucket'],
  ['S8S_STATE_BUCKET', 'ab'],
  ['S8S_STATE_BUCKET', 'gs://bucket'],
  ['S8S_STATE_BUCKET', 'bucket..name'],
  ['S8S_BUDGET_BILLING_ACCOUNT', '0123456789AB'],
  ['S8S_BUDGET_BILLING_ACCOUNT', 'billingAccounts/012345-6789AB-CDEF01'],
  ['S8S_BUDGET_BILLING_ACCOUNT', '012345-6789ab-cdef01'],
  ['S8S_BUDGET_AMOUNT', '-5'],
  ['S8S_BUDGET_AMOUNT', '12.50'],
  ['S8S_BUDGET_AMOUNT', '50USD'],
  ['S8S_BUDGET_EMAIL', 'not-an-address'],
  ['S8S_BUDGET_EMAIL', 'a@example.com,b@example.com'],
];

describe('bad configuration fails with a message naming the setting', () => {
  test('the table covers every setting with at least 30 bad values', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(30);
    expect(new Set(BAD.map(([k]) => k))).toEqual(new Set(SETTINGS.map((s) => s.env)));
  });

  test.each(BAD)('%s = %j', (setting, value) => {
    let error: unknown;
    try {
      loadConfig({ GOOGLE_CLOUD_PROJECT: 'demo-proj', [setting]: value as string });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0].startsWith(`${setting}: `)).toBe(true);
    expect(problems[0]).toMatch(/expected/);
    if (typeof value === 'string') expect(problems[0]).toContain(JSON.stringify(value));
    else expect(problems[0]).toContain(`got a ${typeof value}`);
  });

  test('every bad setting is reported at once', () => {
    expect(() => loadConfig({ S8S_REGION: 'mars', S8S_PREFIX: 'X', S8S_PHS_DISK_GB: '1' })).toThrow(
      /S8S_REGION: "mars"[\s\S]*S8S_PREFIX: "X"[\s\S]*S8S_PHS_DISK_GB: "1"/,
    );
  });
});

describe('the Composer image', () => {
  test('the tested lines are the Airflow 3.3.1 default, at a full build, and the legacy Airflow 2.11 line', () => {
    expect(DEFAULT_COMPOSER_IMAGE).toBe('composer-3-airflow-3.3.1-build.10');
    expect(TESTED_COMPOSER_IMAGES).toEqual(['composer-3-airflow-3.3.1', 'composer-3-airflow-2.11.1']);
    expect(composerImages.lines.map((l) => [l.image, l.major, l.legacy])).toEqual([
      ['composer-3-airflow-3.3.1', 3, false],
      ['composer-3-airflow-2.11.1', 2, true],
    ]);
    for (const l of composerImages.lines) expect(l.build.startsWith(`${l.image}-build.`)).toBe(true);
    // The default is the very build the Airflow 3 environment locks, not an alias.
    expect(DEFAULT_COMPOSER_IMAGE).toBe(composerImages.lines[0].build);
    expect(composerLineOf(DEFAULT_COMPOSER_IMAGE)?.image).toBe('composer-3-airflow-3.3.1');
    expect(composerLineOf('composer-3-airflow-2.11.1-build.15')?.major).toBe(2);
    expect(composerLineOf('composer-3-airflow-3.2.2')).toBeUndefined();
  });

  test('every pin is marked verified (read from Google) or unverified (with what chose it)', () => {
    for (const l of composerImages.lines) {
      const verified = Object.keys(l.verified);
      const unverified = Object.keys(l.unverified);
      expect([...verified, ...unverified].sort()).toEqual(Object.keys(l.pins).sort());
      expect(verified.filter((k) => unverified.includes(k))).toEqual([]);
      for (const why of Object.values(l.unverified) as string[]) expect(why).toMatch(/^chosen by /);
    }
  });

  test('an untested line stops synth naming the value and every tested line', () => {
    expect(() => loadConfig({ S8S_COMPOSER_IMAGE: 'composer-3-airflow-2.10.5' })).toThrow(
      'S8S_COMPOSER_IMAGE: "composer-3-airflow-2.10.5" is not valid; expected one of the Airflow lines this lab is tested on: ' +
        'composer-3-airflow-3.3.1 or composer-3-airflow-3.3.1-build.N, or composer-3-airflow-2.11.1 or composer-3-airflow-2.11.1-build.N',
    );
  });

  test('the removed connector jar setting stops synth with the reason, instead of being ignored', () => {
    expect(() => loadConfig({ S8S_BQ_CONNECTOR_JAR: 'gs://spark-lib/bigquery/connector.jar' })).toThrow(
      /S8S_BQ_CONNECTOR_JAR: "gs:\/\/spark-lib\/bigquery\/connector.jar" is no longer a setting; expected it unset: .*BigQueryRelationProvider not a subtype/,
    );
    expect(() => loadConfig({ S8S_BQ_CONNECTOR_JAR: '' })).not.toThrow();
  });
});

describe('subnet size', () => {
  test('is derived from the batch size: two batches of a driver and their executors, plus the history server', () => {
    const batch = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'airflow', 'dags', 'batch_size.json'), 'utf-8'));
    const nodes = 1 + Number(batch.properties['spark.executor.instances']);
    expect(SUBNET_ADDRESSES_NEEDED).toBe(2 * nodes + 1);
    expect(2 ** (32 - SMALLEST_SUBNET_BITS) - 4).toBeGreaterThanOrEqual(SUBNET_ADDRESSES_NEEDED);
    expect(2 ** (32 - (SMALLEST_SUBNET_BITS + 1)) - 4).toBeLessThan(SUBNET_ADDRESSES_NEEDED);
    expect(SMALLEST_SUBNET_BITS).toBe(28);
  });

  test('a subnet too small says how many addresses it holds and how many the lab needs', () => {
    expect(() => loadConfig({ S8S_SUBNET_CIDR: '10.10.0.0/29' })).toThrow(
      'S8S_SUBNET_CIDR: "10.10.0.0/29" is not valid; expected a private IPv4 range in CIDR form between /16 and /28, such as 10.10.0.0/24: ' +
        'a /29 holds 4 usable addresses (Google reserves 4), and the lab needs 7: 2 batches at once of 3 nodes each',
    );
  });
});

describe('budget alert settings', () => {
  const ACCOUNT = '012345-6789AB-CDEF01';
  test('off by default; on with an account and an amount; an e-mail is optional', () => {
    expect(loadConfig({}).budgetBillingAccount).toBe('');
    const on = loadConfig({ S8S_BUDGET_BILLING_ACCOUNT: ACCOUNT, S8S_BUDGET_AMOUNT: '50' });
    expect([on.budgetBillingAccount, on.budgetAmount, on.budgetEmail]).toEqual([ACCOUNT, 50, '']);
    expect(loadConfig({ S8S_BUDGET_BILLING_ACCOUNT: ACCOUNT, S8S_BUDGET_AMOUNT: '50', S8S_BUDGET_EMAIL: 'me@example.com' }).budgetEmail)
      .toBe('me@example.com');
  });

  test.each<[string, Record<string, string>]>([
    ['an account without an amount', { S8S_BUDGET_BILLING_ACCOUNT: ACCOUNT }],
    ['an account with an amount of 0', { S8S_BUDGET_BILLING_ACCOUNT: ACCOUNT, S8S_BUDGET_AMOUNT: '0' }],
    ['an amount without an account', { S8S_BUDGET_AMOUNT: '50' }],
    ['an e-mail alone', { S8S_BUDGET_EMAIL: 'me@example.com' }],
  ])('%s stops synth naming both settings', (_, env) => {
    expect(() => loadConfig(env)).toThrow(/S8S_BUDGET_BILLING_ACCOUNT and S8S_BUDGET_AMOUNT: .* do not go together; expected both set/);
  });
});

describe('good edge cases pass', () => {
  test.each<[string, string]>([
    ['GOOGLE_CLOUD_PROJECT', 'a1b2c3'],
    ['GOOGLE_CLOUD_PROJECT', 'a'.repeat(30)],
    ['S8S_PREFIX', 'ab'],
    ['S8S_PREFIX', 'lab-team-123'],
    ['S8S_REGION', 'europe-west1'],
    ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.3.1'],
    ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.3.1-build.10'],
    ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-3.3.1-build.12'],
    ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-2.11.1'],
    ['S8S_COMPOSER_IMAGE', 'composer-3-airflow-2.11.1-build.14'],
    ['S8S_COMPOSER_SIZE', 'ENVIRONMENT_SIZE_MEDIUM'],
    ['S8S_SUBNET_CIDR', '10.0.0.0/16'],
    ['S8S_SUBNET_CIDR', '172.16.4.0/28'],
    ['S8S_PREFIX', 'go-lab'],
    ['S8S_SUBNET_CIDR', '192.168.0.0/24'],
    ['S8S_PHS_MACHINE_TYPE', 'n2-standard-4'],
    ['S8S_PHS_DISK_GB', '30'],
    ['S8S_PHS_DISK_GB', '1000'],
    ['S8S_MODEL_VERSION', 'v20260131t120000'],
    ['S8S_MODEL_VERSION', 'a'.repeat(63)],
    ['S8S_CONTAINER_IMAGE', 'us-docker.pkg.dev/demo-proj/lab/spark@sha256:' + 'a'.repeat(64)],
    ['S8S_CONTAINER_IMAGE', 'gcr.io/demo-proj/spark:1.0'],
    ['S8S_STATE_BUCKET', 'my.state-bucket_1'],
    ['S8S_BUDGET_AMOUNT', '0'],
  ])('%s = %s', (setting, value) => {
    expect(() => loadConfig({ GOOGLE_CLOUD_PROJECT: 'demo-proj', [setting]: value })).not.toThrow();
  });
});

describe('main.ts', () => {
  const run = (env: Record<string, string>) => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 's8s-synth-'));
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('S8S_') && k !== 'GOOGLE_CLOUD_PROJECT'));
    const result = spawnSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', 'main.ts'], {
      cwd: path.resolve(__dirname, '..'),
      env: { ...clean, ...env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: '1' },
      encoding: 'utf-8',
    });
    return { ...result, outdir };
  };

  test('synthesizes the whole stack with no configuration and exits 0', () => {
    const r = run({});
    expect(r.status).toBe(0);
    const stack = JSON.parse(fs.readFileSync(path.join(r.outdir, 'stacks', 's8s-scoring-lab', 'cdk.tf.json'), 'utf-8'));
    expect(Object.keys(stack.resource.google_composer_environment)).toHaveLength(1);
    expect(stack.provider.google[0].project).toBe(PLACEHOLDER_PROJECT);
  }, 120000);

  test('a bad setting stops synth with exit 1 and names the setting', () => {
    const r = run({ S8S_REGION: 'mars-north1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('S8S_REGION: "mars-north1" is not valid; expected one of');
    expect(fs.existsSync(path.join(r.outdir, 'stacks'))).toBe(false);
  }, 120000);
});

describe('docs/configuration.md', () => {
  test('the configuration table is SETTINGS: every variable, its default and its description', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf-8');
    const block = /<!-- config-table:start -->([\s\S]*?)<!-- config-table:end -->/.exec(doc);
    expect(block).not.toBeNull();
    const rows = [...block![1].matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$/gm)].map((m) => [
      m[1],
      m[2] === '*(empty)*' ? '' : m[2].replace(/^`|`$/g, ''),
      m[3],
    ]);
    expect(rows).toEqual(SETTINGS.map((s) => [s.env, s.defaultValue, s.description]));
  });
});
