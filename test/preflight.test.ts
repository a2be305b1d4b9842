/**
 * `npm run preflight` against a local HTTP server that answers as Google's REST APIs do (the
 * documented response and error shapes) and records every request. The credentials are real
 * Application Default Credentials (an authorized_user file) refreshed by google-auth-library at
 * the local token endpoint: only the network is replaced.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { AddressInfo } from 'net';
import { composerLineOf, LEGACY_COMPOSER_IMAGES, loadConfig } from '../lib/config';
import { exitCode, Row } from '../preflight/checks';
import { ENDPOINTS, endpointsFrom, OAUTH2_TOKEN_URL_ENV } from '../preflight/google';
import { main } from '../preflight/main';
import { batchFootprint, labNeeds, readBatchSize } from '../preflight/needs';
import { DEPLOY_PERMISSIONS, deployPermissions } from '../preflight/permissions';
import { DEMO_ENV, Json, resourcesOf, single, synthLab } from './helpers';

const REPO = path.resolve(__dirname, '..');
const PROJECT = DEMO_ENV.GOOGLE_CLOUD_PROJECT;
const NUMBER = '123456789012';
const CONFIG = loadConfig(DEMO_ENV);
const TOKEN = 'ya29.local-test-token';

type Answer = [number, Json];
interface Recorded { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

/** The documented error body of a disabled API (google.rpc.ErrorInfo, reason SERVICE_DISABLED). */
function serviceDisabled(service: string, title: string): Answer {
  return [403, {
    error: {
      code: 403,
      message: `${title} has not been used in project ${NUMBER} before or it is disabled. Enable it by visiting ` +
        `https://console.developers.google.com/apis/api/${service}/overview?project=${NUMBER} then retry.`,
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED', domain: 'googleapis.com',
          metadata: { service, consumer: `projects/${NUMBER}`, serviceTitle: title, containerInfo: NUMBER,
            activationUrl: `https://console.developers.google.com/apis/api/${service}/overview?project=${NUMBER}` },
        },
        { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Google developers console API activation', url: `https://console.developers.google.com/apis/api/${service}/overview?project=${NUMBER}` }] },
      ],
    },
  }];
}

const quota = (metric: string, limit: number, usage = 0) => ({ metric, limit, usage });

/** A project that takes the lab, as Google would describe it. Each test changes one answer. */
function healthyProject(): Record<string, (body: string) => Answer> {
  // The default deploys a full build (airflow/composer_images.json); the region also offers an
  // older, disabled build and a newer one of the same line.
  const image = composerLineOf(CONFIG.composerImage)!.image;
  const policy = (constraint: string, rules: Json[]) => (): Answer => [200, { name: `projects/${NUMBER}/policies/${constraint}`, spec: { rules } }];
  return {
    'POST /token': () => [200, { access_token: TOKEN, expires_in: 3599, token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/cloud-platform' }],
    [`GET /v3/projects/${PROJECT}`]: () => [200, { name: `projects/${NUMBER}`, projectId: PROJECT, state: 'ACTIVE', displayName: 'Demo', parent: 'organizations/42' }],
    [`GET /v1/projects/${PROJECT}/billingInfo`]: () => [200, {
      name: `projects/${PROJECT}/billingInfo`, projectId: PROJECT, billingAccountName: 'billingAccounts/012345-6789AB-CDEF01', billingEnabled: true,
    }],
    // Two pages, as imageVersions.list pages its answer.
    [`GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500`]: () => [200, {
      imageVersions: [
        { imageVersionId: 'composer-3-airflow-2.9.3-build.40', isDefault: false, creationDisabled: true, releaseDate: { year: 2025, month: 3, day: 1 } },
        { imageVersionId: `${image}-build.3`, isDefault: false, creationDisabled: true, releaseDate: { year: 2025, month: 6, day: 1 } },
      ],
      nextPageToken: 'page-2',
    }],
    [`GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500&pageToken=page-2`]: () => [200, {
      imageVersions: [
        { imageVersionId: `${image}-build.12`, isDefault: true, creationDisabled: false, supportedPythonVersions: ['3.11'], releaseDate: { year: 2026, month: 12, day: 2 } },
        { imageVersionId: CONFIG.composerImage, isDefault: false, creationDisabled: false, supportedPythonVersions: ['3.11'], releaseDate: { year: 2026, month: 11, day: 20 } },
        { imageVersionId: 'composer-2.16.1-airflow-2.10.5', isDefault: false, creationDisabled: false, releaseDate: { year: 2026, month: 11, day: 2 } },
      ],
    }],
    [`GET /compute/v1/projects/${PROJECT}/regions/us-central1`]: () => [200, {
      kind: 'compute#region', name: 'us-central1', status: 'UP',
      quotas: [quota('CPUS', 24), quota('DISKS_TOTAL_GB', 4096, 100), quota('SSD_TOTAL_GB', 500), quota('N2_CPUS', 24), quota('IN_USE_ADDRESSES', 8)],
    }],
    [`GET /compute/v1/projects/${PROJECT}`]: () => [200, {
      kind: 'compute#project', name: PROJECT,
      quotas: [quota('CPUS_ALL_REGIONS', 32), quota('NETWORKS', 15, 1), quota('SUBNETWORKS', 175, 1), quota('FIREWALLS', 200, 4)],
    }],
    // testIamPermissions answers the subset the caller holds; here all of them.
    [`POST /v3/projects/${PROJECT}:testIamPermissions`]: (body) => [200, { permissions: JSON.parse(body).permissions }],
    ...Object.fromEntries(
      ['gcp.resourceLocations', 'gcp.restrictServiceUsage', 'gcp.restrictNonCmekServices', 'storage.softDeletePolicySeconds']
        .map((c) => [`GET /v2/projects/${NUMBER}/policies/${c}:getEffectivePolicy`, policy(c, [{ allowAll: true }])]),
    ),
    [`GET /v2/projects/${NUMBER}/policies/iam.disableServiceAccountCreation:getEffectivePolicy`]:
      policy('iam.disableServiceAccountCreation', [{ enforce: false }]),
  };
}

let server: http.Server;
let base = '';
let answers: Record<string, (body: string) => Answer> = {};
const requests: Recorded[] = [];
let adcFile = '';
const savedCredentials = process.env.GOOGLE_APPLICATION_CREDENTIALS;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const handler = answers[`${req.method} ${req.url}`];
      const [status, json] = handler ? handler(body) : [404, { error: { code: 404, message: `no route ${req.method} ${req.url}`, status: 'NOT_FOUND' } }];
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // What `gcloud auth application-default login` writes.
  adcFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-adc-')), 'application_default_credentials.json');
  fs.writeFileSync(adcFile, JSON.stringify({
    type: 'authorized_user', client_id: 'local-client.apps.googleusercontent.com', client_secret: 'local-secret',
    refresh_token: '1//local-refresh-token', quota_project_id: PROJECT,
  }));
  // google-auth-library finds ADC through the process environment.
  process.env.GOOGLE_APPLICATION_CREDENTIALS = adcFile;
});

afterAll(async () => {
  if (savedCredentials === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  else process.env.GOOGLE_APPLICATION_CREDENTIALS = savedCredentials;
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  answers = healthyProject();
  requests.length = 0;
});

/** Every base URL pointed at the local server, as a user would override them. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const urls = Object.fromEntries(Object.values(ENDPOINTS).map((e) => [e.env, base]));
  return { ...DEMO_ENV, ...urls, [OAUTH2_TOKEN_URL_ENV]: `${base}/token`, ...extra };
}

async function preflight(extra: Record<string, string> = {}): Promise<{ code: number; out: string; rows: Row[] }> {
  const lines: string[] = [];
  const code = await main(env(extra), (s) => lines.push(s));
  const out = lines.join('\n');
  // Parse the printed table back into rows: what the user sees is what is asserted.
  const rows = out.split('\n').filter((l) => / \| (ok|FAIL|unknown) +\| /.test(l)).map((l) => {
    const [check, status, found, ...action] = l.split(' | ');
    return { check: check.trim(), status: status.trim().replace('FAIL', 'fail') as Row['status'], found: found.trim(), action: action.join(' | ').trim() };
  });
  return { code, out, rows };
}

const row = (rows: Row[], check: string) => {
  const found = rows.filter((r) => r.check === check);
  if (found.length !== 1) throw new Error(`expected one row "${check}", got ${JSON.stringify(rows.map((r) => r.check))}`);
  return found[0];
};

const CHECKS = [
  'project', 'billing', 'composer image',
  'quota CPUS (us-central1)', 'quota DISKS_TOTAL_GB (us-central1)',
  'quota CPUS_ALL_REGIONS (global)', 'quota NETWORKS (global)', 'quota SUBNETWORKS (global)', 'quota FIREWALLS (global)',
  'your permissions',
  'org policy gcp.resourceLocations', 'org policy iam.disableServiceAccountCreation', 'org policy gcp.restrictServiceUsage',
  'org policy gcp.restrictNonCmekServices', 'org policy storage.softDeletePolicySeconds',
];

describe('preflight on a project that takes the lab', () => {
  test('every check passes and it exits 0', async () => {
    const { code, rows, out } = await preflight();
    expect(rows.map((r) => r.check)).toEqual(CHECKS);
    expect(rows.filter((r) => r.status !== 'ok')).toEqual([]);
    expect(code).toBe(0);
    expect(out).toContain('All checks passed');
    // The exact build is checked, not the newest build of its line.
    expect(row(rows, 'composer image').found).toBe(`${CONFIG.composerImage} is creatable in us-central1`);
    expect(row(rows, 'quota CPUS (us-central1)').found).toBe('24 free of 24; the lab takes 14 (12 for a batch, 2 for the history server\'s e2-standard-2)');
    expect(row(rows, 'quota DISKS_TOTAL_GB (us-central1)').found).toBe(
      '3996 free of 4096; the lab takes 1235 (1200 GB for a batch\'s driver and executors, 35 GB for the history server\'s disk)');
  });

  test('the requests are the documented read-only calls, authorized with the ADC token', async () => {
    await preflight();
    const token = requests.filter((r) => r.url === '/token');
    expect(token).toHaveLength(1);
    expect(new URLSearchParams(token[0].body).get('grant_type')).toBe('refresh_token');
    expect(new URLSearchParams(token[0].body).get('refresh_token')).toBe('1//local-refresh-token');
    const calls = requests.filter((r) => r.url !== '/token');
    expect(calls.map((r) => r.method).filter((m) => m !== 'GET')).toEqual(['POST']); // testIamPermissions only
    for (const r of calls) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers['x-goog-user-project']).toBe(PROJECT); // ADC's quota project
    }
    const iam = calls.find((r) => r.method === 'POST')!;
    expect(iam.url).toBe(`/v3/projects/${PROJECT}:testIamPermissions`);
    expect(JSON.parse(iam.body)).toEqual({ permissions: deployPermissions() });
    expect(deployPermissions().length).toBeLessThanOrEqual(100); // the method's limit per call
    // Org policies are read for the project number the project call returned.
    expect(calls.filter((r) => r.url.startsWith('/v2/')).map((r) => r.url).sort()).toEqual([
      'gcp.resourceLocations', 'gcp.restrictNonCmekServices', 'gcp.restrictServiceUsage', 'iam.disableServiceAccountCreation',
      'storage.softDeletePolicySeconds',
    ].map((c) => `/v2/projects/${NUMBER}/policies/${c}:getEffectivePolicy`));
  });
});

const policyAnswer = (constraint: string, rules: Json[]) => (): Answer =>
  [200, { name: `projects/${NUMBER}/policies/${constraint}`, spec: { rules } }];

/** One changed answer per case, and the row that must fail because of it. */
const FAILURES: Array<[string, string, string, () => Answer, RegExp]> = [
  ['project pending deletion', 'project', `GET /v3/projects/${PROJECT}`,
    () => [200, { name: `projects/${NUMBER}`, projectId: PROJECT, state: 'DELETE_REQUESTED' }], /is DELETE_REQUESTED/],
  ['project missing or hidden', 'project', `GET /v3/projects/${PROJECT}`,
    () => [403, { error: { code: 403, message: `Permission 'resourcemanager.projects.get' denied on resource '//cloudresourcemanager.googleapis.com/projects/${PROJECT}' (or it may not exist).`, status: 'PERMISSION_DENIED' } }],
    /HTTP 403 PERMISSION_DENIED/],
  ['billing disabled', 'billing', `GET /v1/projects/${PROJECT}/billingInfo`,
    () => [200, { name: `projects/${PROJECT}/billingInfo`, projectId: PROJECT, billingAccountName: '', billingEnabled: false }], /not enabled/],
  ['image not offered', 'composer image', `GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500`,
    () => [200, { imageVersions: [{ imageVersionId: 'composer-3-airflow-3.2.2-build.4', creationDisabled: false }] }], /is not offered in us-central1/],
  ['image no longer creatable', 'composer image', `GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500&pageToken=page-2`,
    () => [200, { imageVersions: [{ imageVersionId: CONFIG.composerImage, creationDisabled: true }] }], /creation is disabled/],
  ['regional CPUS short', 'quota CPUS (us-central1)', `GET /compute/v1/projects/${PROJECT}/regions/us-central1`,
    () => [200, { name: 'us-central1', quotas: [quota('CPUS', 8), quota('DISKS_TOTAL_GB', 4096)] }], /^8 free of 8; the lab takes 14/],
  ['regional disks short', 'quota DISKS_TOTAL_GB (us-central1)', `GET /compute/v1/projects/${PROJECT}/regions/us-central1`,
    () => [200, { name: 'us-central1', quotas: [quota('CPUS', 24), quota('DISKS_TOTAL_GB', 2048, 1000)] }], /^1048 free of 2048; the lab takes 1235/],
  ['global CPUs short', 'quota CPUS_ALL_REGIONS (global)', `GET /compute/v1/projects/${PROJECT}`,
    () => [200, { name: PROJECT, quotas: [quota('CPUS_ALL_REGIONS', 12), quota('NETWORKS', 15), quota('SUBNETWORKS', 175), quota('FIREWALLS', 200)] }], /^12 free of 12/],
  ['no network left', 'quota NETWORKS (global)', `GET /compute/v1/projects/${PROJECT}`,
    () => [200, { name: PROJECT, quotas: [quota('CPUS_ALL_REGIONS', 32), quota('NETWORKS', 5, 5), quota('SUBNETWORKS', 175), quota('FIREWALLS', 200)] }], /^0 free of 5/],
  ['permissions missing', 'your permissions', `POST /v3/projects/${PROJECT}:testIamPermissions`,
    () => [200, { permissions: deployPermissions().filter((p) => !p.startsWith('composer.') && p !== 'iam.serviceAccounts.actAs') }],
    /^missing 5 of \d+: composer.environments.create, composer.environments.delete, composer.environments.get, composer.operations.get, iam.serviceAccounts.actAs$/],
  ['region denied', 'org policy gcp.resourceLocations', `GET /v2/projects/${NUMBER}/policies/gcp.resourceLocations:getEffectivePolicy`,
    policyAnswer('gcp.resourceLocations', [{ values: { deniedValues: ['in:us-central1-locations'] } }]), /us-central1 is denied/],
  ['region not in the allowed list', 'org policy gcp.resourceLocations', `GET /v2/projects/${NUMBER}/policies/gcp.resourceLocations:getEffectivePolicy`,
    policyAnswer('gcp.resourceLocations', [{ values: { allowedValues: ['europe-west1', 'us-central1-a'] } }]), /not us-central1/],
  ['service accounts cannot be created', 'org policy iam.disableServiceAccountCreation',
    `GET /v2/projects/${NUMBER}/policies/iam.disableServiceAccountCreation:getEffectivePolicy`,
    policyAnswer('iam.disableServiceAccountCreation', [{ enforce: true }]), /enforced/],
  ['an API is not allowed', 'org policy gcp.restrictServiceUsage', `GET /v2/projects/${NUMBER}/policies/gcp.restrictServiceUsage:getEffectivePolicy`,
    policyAnswer('gcp.restrictServiceUsage', [{ values: { deniedValues: ['dataproc.googleapis.com'] } }]), /not allowed: dataproc.googleapis.com/],
  ['CMEK required', 'org policy gcp.restrictNonCmekServices', `GET /v2/projects/${NUMBER}/policies/gcp.restrictNonCmekServices:getEffectivePolicy`,
    policyAnswer('gcp.restrictNonCmekServices', [{ values: { deniedValues: ['storage.googleapis.com'] } }]), /CMEK required for storage.googleapis.com/],
  ['soft delete must stay on', 'org policy storage.softDeletePolicySeconds',
    `GET /v2/projects/${NUMBER}/policies/storage.softDeletePolicySeconds:getEffectivePolicy`,
    policyAnswer('storage.softDeletePolicySeconds', [{ values: { allowedValues: ['604800', '1209600'] } }]), /retention of 0 is not allowed/],
];

describe('each check failing', () => {
  test.each(FAILURES)('%s: the %s row fails and preflight exits 1', async (_name, check, route, answer, found) => {
    expect(answers[route]).toBeDefined(); // the case replaces a call preflight makes
    answers[route] = answer;
    const { code, rows, out } = await preflight();
    const r = row(rows, check);
    expect(r.status).toBe('fail');
    expect(r.found).toMatch(found);
    expect(r.action).not.toBe('-');
    // Only this check fails (org policies need the project number, so they follow the project).
    const others = rows.filter((x) => x.check !== check && x.status !== 'ok');
    if (check === 'project' && found.source.includes('403')) expect(others.map((x) => x.check)).toEqual(CHECKS.filter((c) => c.startsWith('org policy')));
    else if (check !== 'project') expect(others).toEqual([]);
    expect(code).toBe(1);
    expect(out).toContain('A deploy would fail');
  });

  test('the fix names the setting or the command', async () => {
    answers[`GET /v1/projects/${PROJECT}/billingInfo`] = () => [200, { projectId: PROJECT, billingEnabled: false }];
    answers[`GET /compute/v1/projects/${PROJECT}/regions/us-central1`] = () => [200, { quotas: [quota('CPUS', 8), quota('DISKS_TOTAL_GB', 4096)] }];
    const { rows } = await preflight();
    expect(row(rows, 'billing').action).toBe(`gcloud billing projects link ${PROJECT} --billing-account=ACCOUNT_ID`);
    expect(row(rows, 'quota CPUS (us-central1)').action).toBe('ask for at least 14 in IAM & Admin > Quotas (CPUS, us-central1), or free some up');
  });

  test('an image the region does not create is answered with a tested line the region does create', async () => {
    const [legacy] = LEGACY_COMPOSER_IMAGES;
    answers[`GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500`] = () => [200, {
      imageVersions: [
        { imageVersionId: 'composer-3-airflow-3.2.2-build.4', creationDisabled: false },
        { imageVersionId: `${legacy}-build.14`, creationDisabled: false },
        { imageVersionId: `${legacy}-build.9`, creationDisabled: true },
      ],
    }];
    answers[`GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500&pageToken=page-2`] = () => [200, { imageVersions: [] }];
    const { rows } = await preflight();
    // 3.2.2 is creatable but untested (S8S_COMPOSER_IMAGE refuses it), build.9 is not creatable.
    expect(row(rows, 'composer image').action).toBe(`set S8S_COMPOSER_IMAGE to a tested line the region creates: ${legacy}-build.14`);
  });

  test('a location policy preflight cannot expand is reported, not passed', async () => {
    answers[`GET /v2/projects/${NUMBER}/policies/gcp.resourceLocations:getEffectivePolicy`] =
      policyAnswer('gcp.resourceLocations', [{ values: { allowedValues: ['in:us-locations'] } }]);
    const { code, rows } = await preflight();
    expect(row(rows, 'org policy gcp.resourceLocations')).toMatchObject({ status: 'unknown', found: 'allowed: in:us-locations' });
    expect(code).toBe(2);
  });
});

describe('an API not enabled yet', () => {
  test('Composer API disabled: the row says which API to enable where, nothing fails, exit 2', async () => {
    const route = `GET /v1/projects/${PROJECT}/locations/us-central1/imageVersions?pageSize=500`;
    answers[route] = () => serviceDisabled('composer.googleapis.com', 'Cloud Composer API');
    const { code, rows, out } = await preflight();
    expect(row(rows, 'composer image')).toMatchObject({
      status: 'unknown', found: `composer.googleapis.com is not enabled in projects/${NUMBER}`,
    });
    expect(row(rows, 'composer image').action).toContain(`gcloud services enable composer.googleapis.com --project ${NUMBER}`);
    expect(rows.filter((r) => r.status === 'fail')).toEqual([]);
    expect(code).toBe(2);
    expect(out).toContain('could not be read');
  });

  test('Compute Engine API disabled (its v1 error also carries errors[].reason accessNotConfigured): every quota row says so', async () => {
    const [status, body] = serviceDisabled('compute.googleapis.com', 'Compute Engine API');
    body.error.errors = [{ message: body.error.message, domain: 'usageLimits', reason: 'accessNotConfigured', extendedHelp: 'https://console.developers.google.com' }];
    answers[`GET /compute/v1/projects/${PROJECT}/regions/us-central1`] = () => [status, body];
    answers[`GET /compute/v1/projects/${PROJECT}`] = () => [status, body];
    const { code, rows } = await preflight();
    const quotaRows = rows.filter((r) => r.check.startsWith('quota '));
    expect(quotaRows).toHaveLength(6);
    for (const r of quotaRows) expect(r).toMatchObject({ status: 'unknown', found: `compute.googleapis.com is not enabled in projects/${NUMBER}` });
    expect(code).toBe(2);
  });

  test('Org Policy API disabled in the quota project', async () => {
    for (const c of ['gcp.resourceLocations', 'iam.disableServiceAccountCreation', 'gcp.restrictServiceUsage', 'gcp.restrictNonCmekServices', 'storage.softDeletePolicySeconds']) {
      answers[`GET /v2/projects/${NUMBER}/policies/${c}:getEffectivePolicy`] = () => serviceDisabled('orgpolicy.googleapis.com', 'Organization Policy API');
    }
    const { code, rows } = await preflight();
    expect(rows.filter((r) => r.status === 'unknown').map((r) => r.check)).toEqual(CHECKS.filter((c) => c.startsWith('org policy')));
    expect(code).toBe(2);
  });
});

describe('credentials and configuration', () => {
  test('refused ADC (revoked refresh token) gives one message saying what to run, exit 1, and no API call', async () => {
    answers['POST /token'] = () => [400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }];
    const { code, out, rows } = await preflight();
    expect(code).toBe(1);
    expect(rows).toEqual([]);
    expect(out).toContain('gcloud auth application-default login');
    expect(requests.map((r) => r.url)).toEqual(['/token']);
  });

  // As a user runs it: the npm script, a fresh HOME without gcloud's ADC file, no
  // GOOGLE_APPLICATION_CREDENTIALS. Not on Google Cloud, so there is no metadata server either.
  const run = (extra: Record<string, string | undefined>) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-home-'));
    const childEnv: Record<string, string | undefined> = { ...process.env, HOME: home, ...extra };
    delete childEnv.GOOGLE_APPLICATION_CREDENTIALS;
    delete childEnv.CLOUDSDK_CONFIG;
    return spawnSync('npm', ['run', '-s', 'preflight'], { cwd: REPO, env: childEnv as NodeJS.ProcessEnv, encoding: 'utf-8', timeout: 60000 });
  };

  test('no credentials: exits 1 with what to set, no stack trace', () => {
    const r = run({ GOOGLE_CLOUD_PROJECT: 'my-lab-project' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('No usable Application Default Credentials');
    expect(r.stdout).toContain('gcloud auth application-default login');
    expect(r.stdout).toContain('GOOGLE_APPLICATION_CREDENTIALS');
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });

  test('no project: exits 1 naming GOOGLE_CLOUD_PROJECT, before any credentials are read', () => {
    const r = run({ GOOGLE_CLOUD_PROJECT: undefined });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('GOOGLE_CLOUD_PROJECT is not set');
    expect(r.stdout).toContain('export GOOGLE_CLOUD_PROJECT=');
  });

  test('a bad setting: exits 1 with synth\'s own message', async () => {
    const { code, out } = await preflight({ S8S_REGION: 'mars-north1' });
    expect(code).toBe(1);
    expect(out).toContain('S8S_REGION: "mars-north1" is not valid; expected one of');
    expect(requests).toEqual([]);
  });

  test('every base URL is overridable and defaults to Google\'s', () => {
    expect(endpointsFrom({})).toEqual({
      resourcemanager: 'https://cloudresourcemanager.googleapis.com', cloudbilling: 'https://cloudbilling.googleapis.com',
      composer: 'https://composer.googleapis.com', compute: 'https://compute.googleapis.com', orgpolicy: 'https://orgpolicy.googleapis.com',
    });
    expect(Object.values(endpointsFrom(env())).every((u) => u === base)).toBe(true);
  });
});

describe('what the lab needs comes from the stack', () => {
  const stack = synthLab();

  test('the batch size is the DAGs\' file, and its footprint is a driver plus its executors', () => {
    const size = readBatchSize();
    expect(size).toEqual(JSON.parse(fs.readFileSync(path.join(REPO, 'airflow/dags/batch_size.json'), 'utf-8')).properties);
    expect(batchFootprint(size)).toEqual({ vcpus: 12, diskGb: 1200 });
    expect(() => batchFootprint({ ...size, 'spark.dynamicAllocation.enabled': 'true' })).toThrow(/must be "false"/);
    expect(() => batchFootprint({ ...size, 'spark.dataproc.executor.disk.tier': 'premium' })).toThrow(
      'batch size spark.dataproc.executor.disk.tier: "premium" is not supported by preflight; expected "standard" or unset');
    expect(batchFootprint({ ...size, 'spark.dataproc.driver.compute.tier': 'standard' })).toEqual({ vcpus: 12, diskGb: 1200 });
    expect(() => batchFootprint({ ...size, 'spark.dataproc.executor.disk.size': 'big' })).toThrow(
      'batch size spark.dataproc.executor.disk.size: "big" is not valid; expected a size such as 400g');
  });

  test('the history server\'s machine and pd-standard disk are what the stack synthesizes', () => {
    const master = single(stack, 'google_dataproc_cluster').cluster_config.master_config;
    // DISKS_TOTAL_GB counts pd-standard; a pd-ssd or pd-balanced disk would draw on SSD_TOTAL_GB.
    expect(master.disk_config.boot_disk_type).toBe('pd-standard');
    const needs = labNeeds(CONFIG);
    expect(needs.find((n) => n.metric === 'DISKS_TOTAL_GB')!.amount).toBe(1200 + master.disk_config.boot_disk_size_gb);
    expect(needs.find((n) => n.metric === 'CPUS')!.why).toContain(master.machine_type);
  });

  test('another machine family draws on its own CPU quota', () => {
    const needs = labNeeds(loadConfig({ ...DEMO_ENV, S8S_PHS_MACHINE_TYPE: 'n2-standard-4', S8S_PHS_DISK_GB: '50' }));
    expect(needs.filter((n) => n.scope === 'region').map((n) => [n.metric, n.amount])).toEqual([
      ['CPUS', 12], ['N2_CPUS', 4], ['DISKS_TOTAL_GB', 1250],
    ]);
    expect(needs.find((n) => n.metric === 'CPUS_ALL_REGIONS')!.amount).toBe(16);
    expect(() => labNeeds(loadConfig({ ...DEMO_ENV, S8S_PHS_MACHINE_TYPE: 'e2-weird' }))).toThrow(/S8S_PHS_MACHINE_TYPE/);
  });

  test('the permissions cover every resource type deploy creates', () => {
    expect(Object.keys(DEPLOY_PERMISSIONS).sort()).toEqual(Object.keys(stack.resource).sort());
    for (const [type, perms] of Object.entries(DEPLOY_PERMISSIONS)) {
      if (type !== 'time_sleep') expect(perms.length).toBeGreaterThan(0);
      for (const p of perms) expect(p).toMatch(/^[a-z]+\.[A-Za-z]+\.[A-Za-z]+$/);
    }
    expect(resourcesOf(stack, 'google_composer_environment')).not.toEqual({});
  });

  test('exit codes: 1 on any failure, 2 when only unknowns remain, 0 when all pass', () => {
    const r = (status: Row['status']): Row => ({ check: 'c', status, found: '', action: '' });
    expect(exitCode([r('ok'), r('unknown'), r('fail')])).toBe(1);
    expect(exitCode([r('ok'), r('unknown')])).toBe(2);
    expect(exitCode([r('ok')])).toBe(0);
  });
});
