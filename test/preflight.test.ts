/**
 * `npm run preflight` against a local server that answers as Google's REST APIs do
 * (test/google-apis.ts: only held permissions returned, HTTP 400 for an invalid permission name,
 * paged lists, omitted proto3 defaults, documented error bodies). The credentials are real
 * Application Default Credentials (an authorized_user file) refreshed by google-auth-library at
 * the local token endpoint: only the network is replaced. Each case starts its own server from a
 * healthy project and changes one thing; the timing cases wait for real (no scaled clock), in
 * parallel so that the file stays near a minute.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { composerLineOf, LEGACY_COMPOSER_IMAGES, loadConfig } from '../lib/config';
import { exitCode, Row } from '../preflight/checks';
import { ENDPOINTS, endpointsFrom, OAUTH2_TOKEN_URL_ENV, PREFLIGHT_APIS } from '../preflight/google';
import { valueHolds } from '../preflight/locations';
import { main } from '../preflight/main';
import { batchFootprint, labNeeds, readBatchSize } from '../preflight/needs';
import { ORG_CHECKS } from '../preflight/orgpolicy';
import { DEPLOY_PERMISSIONS, deployPermissions } from '../preflight/permissions';
import { GoogleApisServer, healthyProject, loadPermissionNames, PERMISSIONS_FILE, PolicyRule, ProjectModel, TOKEN } from './google-apis';
import { DEMO_ENV, resourcesOf, single, synthLab } from './helpers';

const REPO = path.resolve(__dirname, '..');
const PROJECT = DEMO_ENV.GOOGLE_CLOUD_PROJECT;
const CONFIG = loadConfig(DEMO_ENV);
// The default deploys a full build (airflow/composer_images.json); the region's answers list
// builds of its line, by alias.
const LINE_ALIAS = composerLineOf(CONFIG.composerImage)!.image;
const NUMBER = '123456789012';

// What `gcloud auth application-default login` writes; set when the file loads, as concurrent
// tests may start before beforeAll hooks. google-auth-library finds ADC through the environment.
const adcFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-adc-')), 'application_default_credentials.json');
fs.writeFileSync(adcFile, JSON.stringify({
  type: 'authorized_user', client_id: 'local-client.apps.googleusercontent.com', client_secret: 'local-secret',
  refresh_token: '1//local-refresh-token', quota_project_id: PROJECT,
}));
const savedCredentials = process.env.GOOGLE_APPLICATION_CREDENTIALS;
process.env.GOOGLE_APPLICATION_CREDENTIALS = adcFile;

afterAll(() => {
  if (savedCredentials === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  else process.env.GOOGLE_APPLICATION_CREDENTIALS = savedCredentials;
});

/** Every base URL pointed at the local server, as a user would override them. */
function envFor(base: string, extra: Record<string, string> = {}): Record<string, string> {
  const urls = Object.fromEntries(Object.values(ENDPOINTS).map((e) => [e.env, base]));
  return { ...DEMO_ENV, ...urls, [OAUTH2_TOKEN_URL_ENV]: `${base}/token`, ...extra };
}

/** Parses the printed table back into rows: what the user sees is what is asserted. */
function parseRows(out: string): Row[] {
  return out.split('\n').filter((l) => / \| (ok|FAIL|unknown) +\| /.test(l)).map((l) => {
    const [check, status, found, ...action] = l.split(' | ');
    return { check: check.trim(), status: status.trim().replace('FAIL', 'fail') as Row['status'], found: found.trim(), action: action.join(' | ').trim() };
  });
}

interface Run { code: number; out: string; rows: Row[]; server: GoogleApisServer; ms: number }

/** Preflight in this process against a fresh server for a healthy project changed by `change`. */
async function preflight(change: (m: ProjectModel) => void = () => {}, extra: Record<string, string> = {}): Promise<Run> {
  const model = healthyProject(PROJECT, LINE_ALIAS, deployPermissions());
  change(model);
  const server = await new GoogleApisServer(model).start();
  try {
    const lines: string[] = [];
    const started = Date.now();
    const code = await main(envFor(server.base, extra), (s) => lines.push(s));
    const out = lines.join('\n');
    return { code, out, rows: parseRows(out), server, ms: Date.now() - started };
  } finally {
    await server.stop();
  }
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
  'org policy gcp.resourceLocations', 'org policy iam.disableServiceAccountCreation', 'org policy iam.managed.disableServiceAccountCreation',
  'org policy gcp.restrictServiceUsage', 'org policy gcp.restrictNonCmekServices', 'org policy storage.softDeletePolicySeconds',
  'org policy storage.retentionPolicySeconds',
];
const LOCATIONS = 'org policy gcp.resourceLocations';
const locations = (...rules: PolicyRule[]) => (m: ProjectModel) => { m.policies['gcp.resourceLocations'] = rules; };

/** Only the named rows are not ok. */
function onlyThese(rows: Row[], ...checks: string[]) {
  expect(rows.filter((r) => r.status !== 'ok').map((r) => r.check).sort()).toEqual([...checks].sort());
}

describe('a project that takes the lab', () => {
  test('every check passes and preflight exits 0', async () => {
    const { code, rows, out } = await preflight();
    expect(rows.map((r) => r.check)).toEqual(CHECKS);
    onlyThese(rows);
    expect(code).toBe(0);
    expect(out).toContain('All checks passed');
    // The exact build the default names is checked, not the newest build of its line.
    expect(row(rows, 'composer image').found).toBe(`${CONFIG.composerImage} is creatable in us-central1`);
    expect(row(rows, 'quota CPUS (us-central1)').found).toBe('24 free of 24; the lab takes 14 (12 for a batch, 2 for the history server\'s e2-standard-2)');
    expect(row(rows, 'quota DISKS_TOTAL_GB (us-central1)').found).toBe(
      '3996 free of 4096; the lab takes 1235 (1200 GB for a batch\'s driver and executors, 35 GB for the history server\'s disk)');
    expect(row(rows, 'your permissions').found).toBe(`all ${deployPermissions().length} that deploy and destroy use`);
    expect(row(rows, 'billing').found).toBe('enabled (billingAccounts/012345-6789AB-CDEF01)');
  });

  test('the requests are the documented read-only calls, authorized with the ADC token', async () => {
    const { server } = await preflight();
    const token = server.requests.filter((r) => r.url === '/token');
    expect(token).toHaveLength(1);
    expect(new URLSearchParams(token[0].body).get('grant_type')).toBe('refresh_token');
    expect(new URLSearchParams(token[0].body).get('refresh_token')).toBe('1//local-refresh-token');
    const calls = server.requests.filter((r) => r.url !== '/token');
    expect(calls.filter((r) => r.method !== 'GET').map((r) => r.url)).toEqual([`/v3/projects/${PROJECT}:testIamPermissions`]);
    for (const r of calls) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers['x-goog-user-project']).toBe(PROJECT); // ADC's quota project
    }
    const iam = calls.find((r) => r.method === 'POST')!;
    expect(JSON.parse(iam.body)).toEqual({ permissions: deployPermissions() });
    expect(deployPermissions().length).toBeLessThanOrEqual(100); // the method's limit per call
    // Org policies are read by project id (answered with the number), at once with the rest.
    expect(calls.filter((r) => r.url.startsWith('/v2/')).map((r) => r.url).sort()).toEqual(
      ORG_CHECKS.map((c) => `/v2/projects/${PROJECT}/policies/${c.constraint}:getEffectivePolicy`).sort());
    // The image list is read page by page, past releases included.
    const images = calls.filter((r) => r.url.includes('/imageVersions'));
    expect(images.length).toBeGreaterThan(1);
    for (const r of images) expect(new URL(r.url, 'http://x').searchParams.get('includePastReleases')).toBe('true');
  });
});

describe('the cases of issue 25', () => {
  test('a free-trial project (regional CPUS limit 8): exit 1 on the CPUS row', async () => {
    const { code, rows } = await preflight((m) => { m.regionQuotas['us-central1'][0] = { metric: 'CPUS', limit: 8 }; });
    onlyThese(rows, 'quota CPUS (us-central1)');
    expect(row(rows, 'quota CPUS (us-central1)')).toMatchObject({
      status: 'fail', found: expect.stringMatching(/^8 free of 8; the lab takes 14/),
      action: 'ask for at least 14 in IAM & Admin > Quotas (CPUS, us-central1), or free some up',
    });
    expect(code).toBe(1);
  });

  test('allowed in:europe-locations: us-central1 is not in it, exit 1', async () => {
    const { code, rows } = await preflight(locations({ values: { allowedValues: ['in:europe-locations'] } }));
    onlyThese(rows, LOCATIONS);
    expect(row(rows, LOCATIONS)).toMatchObject({ status: 'fail', found: 'us-central1 is not allowed (allowed: in:europe-locations)' });
    expect(code).toBe(1);
  });

  test('allowed in:us-locations: us-central1 and its zones are in it, exit 0', async () => {
    const { code, rows } = await preflight(locations({ values: { allowedValues: ['in:us-locations'] } }));
    onlyThese(rows);
    expect(row(rows, LOCATIONS).found).toBe('us-central1 is allowed by in:us-locations');
    expect(code).toBe(0);
  });

  test('deny-only (in:asia-locations and europe-west1 denied): everything else is allowed, exit 0', async () => {
    const { code, rows } = await preflight(locations({ values: { deniedValues: ['in:asia-locations', 'europe-west1'] } }));
    onlyThese(rows);
    expect(row(rows, LOCATIONS).found).toBe('us-central1 is allowed: the policy only denies in:asia-locations, europe-west1');
    expect(code).toBe(0);
  });

  test('a denied group that holds the region wins over an allowed one: exit 1', async () => {
    const { code, rows } = await preflight(locations(
      { values: { allowedValues: ['in:us-central1-locations'] } }, { values: { deniedValues: ['in:northamerica-locations'] } }));
    onlyThese(rows, LOCATIONS);
    expect(row(rows, LOCATIONS)).toMatchObject({ status: 'fail', found: 'us-central1 is denied by in:northamerica-locations' });
    expect(code).toBe(1);
  });

  test('a caller missing two permissions: exit 1, both named', async () => {
    const { code, rows } = await preflight((m) => { m.held.delete('dataproc.operations.get'); m.held.delete('resourcemanager.projects.get'); });
    onlyThese(rows, 'your permissions');
    expect(row(rows, 'your permissions').found).toBe(`missing 2 of ${deployPermissions().length}: dataproc.operations.get, resourcemanager.projects.get`);
    expect(code).toBe(1);
  });

  test('a caller holding none of them (Google answers {}): exit 1, said as such', async () => {
    const { code, rows } = await preflight((m) => { m.held.clear(); });
    expect(row(rows, 'your permissions')).toMatchObject({
      status: 'fail', found: expect.stringMatching(new RegExp(`^you hold none of the ${deployPermissions().length} permissions deploy and destroy use`)),
    });
    expect(code).toBe(1);
  });

  test('billing disabled (billingEnabled left out, as proto3 does for false): exit 1 with the command to link billing', async () => {
    const { code, rows } = await preflight((m) => { m.billingAccount = undefined; });
    onlyThese(rows, 'billing');
    expect(row(rows, 'billing')).toMatchObject({ status: 'fail', found: 'billing is not enabled', action: `gcloud billing projects link ${PROJECT} --billing-account=ACCOUNT_ID` });
    expect(code).toBe(1);
  });

  test('the Composer API disabled (SERVICE_DISABLED): exit 2, the command to enable it', async () => {
    const { code, rows, out } = await preflight((m) => { m.disabled.add('composer.googleapis.com'); });
    onlyThese(rows, 'composer image');
    expect(row(rows, 'composer image')).toMatchObject({ status: 'unknown', found: `composer.googleapis.com is not enabled in projects/${NUMBER}` });
    expect(row(rows, 'composer image').action).toContain(`gcloud services enable composer.googleapis.com --project ${NUMBER}`);
    expect(out).toContain(`\n  gcloud services enable composer.googleapis.com --project ${NUMBER}\n  npm run preflight`);
    expect(code).toBe(2);
    expect(out).toContain('could not be read');
  });

  test('a quotaStatusWarning instead of quotas: exit 2, the warning\'s text and advice to rerun', async () => {
    const { code, rows } = await preflight((m) => {
      m.quotaWarning = { code: 'QUOTA_INFO_UNAVAILABLE', message: 'Quota information is temporarily unavailable.' };
    });
    onlyThese(rows, 'quota CPUS (us-central1)', 'quota DISKS_TOTAL_GB (us-central1)');
    for (const c of ['quota CPUS (us-central1)', 'quota DISKS_TOTAL_GB (us-central1)']) {
      expect(row(rows, c)).toMatchObject({
        status: 'unknown',
        found: 'Compute Engine sent no quotas but a quotaStatusWarning: QUOTA_INFO_UNAVAILABLE: Quota information is temporarily unavailable.',
        action: 'a passing failure on Google\'s side: run preflight again in a minute',
      });
    }
    expect(code).toBe(2);
  });

  test('one permission name rejected with 400: the others are still checked, the name is preflight\'s fault', async () => {
    // Google has retired one of preflight's names; the caller also lacks another permission.
    const { code, rows, server } = await preflight((m) => { m.retired.add('compute.regionOperations.get'); m.held.delete('storage.buckets.delete'); });
    const wanted = deployPermissions().length;
    expect(row(rows, 'your permissions')).toMatchObject({ status: 'fail', found: `missing 1 of ${wanted - 1}: storage.buckets.delete` });
    expect(row(rows, 'preflight\'s permission list')).toMatchObject({
      status: 'unknown',
      found: `Google refused compute.regionOperations.get as not a valid permission (Permission compute.regionOperations.get is not valid for this resource.); the other ${wanted - 1} were checked`,
      action: expect.stringContaining('a fault in preflight (preflight/permissions.ts), not in your project'),
    });
    expect(code).toBe(1);
    // All at once, then in 8 smaller groups, then the rejected group's names alone.
    const asked = server.requests.filter((r) => r.url.endsWith(':testIamPermissions')).map((r) => JSON.parse(r.body).permissions as string[]);
    expect(asked[0]).toHaveLength(wanted);
    expect(asked.slice(1, 9).flat().sort()).toEqual(deployPermissions());
    expect(asked.slice(9).every((names) => names.length === 1)).toBe(true);
    expect(asked.length).toBe(9 + Math.ceil(wanted / 8));
  });

  test('a rejected name alone leaves nothing failed: exit 2', async () => {
    const { code, rows } = await preflight((m) => { m.retired.add('bigquery.tables.update'); });
    onlyThese(rows, 'preflight\'s permission list');
    expect(row(rows, 'your permissions').found).toBe(`all ${deployPermissions().length - 1} that deploy and destroy use (of ${deployPermissions().length}: see the row below)`);
    expect(code).toBe(2);
  });

  test('a pinned build from an earlier release is found (listed only with includePastReleases)', async () => {
    const pinned = `${LINE_ALIAS}-build.1`;
    const { code, rows } = await preflight((m) => {
      m.images['us-central1'].push({ id: pinned, pastRelease: true, released: '2026-08-05' });
    }, { S8S_COMPOSER_IMAGE: pinned });
    expect(row(rows, 'composer image')).toMatchObject({ status: 'ok', found: `${pinned} is creatable in us-central1` });
    expect(code).toBe(0);
  });

  test('an empty project: one command enables exactly the APIs preflight reads, then the rerun', async () => {
    const { code, rows, out, server } = await preflight((m) => { for (const s of PREFLIGHT_APIS) m.disabled.add(s as never); });
    expect(rows.map((r) => r.check)).toEqual(CHECKS);
    expect(rows.every((r) => r.status === 'unknown')).toBe(true);
    const commands = out.split('\n').filter((l) => l.startsWith('  gcloud services enable'));
    expect(commands).toEqual([`  gcloud services enable ${[...PREFLIGHT_APIS].sort().join(' ')} --project ${NUMBER}`]);
    expect(out).toContain(`${commands[0]}\n  npm run preflight`);
    expect(code).toBe(2);
    // Read-only: nothing but GETs and testIamPermissions went out.
    expect(server.requests.filter((r) => r.method !== 'GET').map((r) => r.url).sort()).toEqual(['/token', `/v3/projects/${PROJECT}:testIamPermissions`]);
  });
});

describe('bounded in time (real waits, run side by side)', () => {
  // Pages of a list follow one another: here, as from Google with pageSize=500, the list is one page.
  test.concurrent('every API answering after 30 s: all rows read, done within 60 s', async () => {
    const { code, rows, ms } = await preflight((m) => { m.delayMs = 30_000; m.pageLimit = 500; });
    expect(ms).toBeGreaterThanOrEqual(30_000);
    expect(ms).toBeLessThan(60_000);
    onlyThese(rows);
    expect(code).toBe(0);
  }, 70_000);

  test.concurrent('the token after 10 s and every API after 30 s: still all read, within 60 s', async () => {
    const { code, rows, ms } = await preflight((m) => { m.delayMs = 30_000; m.tokenDelayMs = 10_000; m.pageLimit = 500; });
    expect(ms).toBeGreaterThanOrEqual(40_000);
    expect(ms).toBeLessThan(60_000);
    onlyThese(rows);
    expect(code).toBe(0);
  }, 70_000);

  test.concurrent('every API silent: done within 60 s, each row naming its endpoint and the time waited', async () => {
    const { code, rows, ms } = await preflight((m) => { m.delayMs = 'never'; });
    expect(ms).toBeLessThan(60_000);
    expect(rows.map((r) => r.check)).toEqual(CHECKS);
    for (const r of rows) {
      expect(r).toMatchObject({ status: 'unknown', action: 'check the network (a proxy or firewall in the way?), then run preflight again' });
      expect(r.found).toMatch(/^no answer from (GET|POST) http:\/\/127\.0\.0\.1:\d+\/\S+ within (4\d|50)\.\d s$/);
    }
    expect(row(rows, 'billing').found).toMatch(new RegExp(`^no answer from GET http://127.0.0.1:\\d+/v1/projects/${PROJECT}/billingInfo within`));
    expect(code).toBe(2);
  }, 70_000);

  test.concurrent('a token endpoint that never answers: `npm run preflight` ends within 60 s naming it', async () => {
    const model = healthyProject(PROJECT, LINE_ALIAS, deployPermissions());
    model.tokenDelayMs = 'never';
    const server = await new GoogleApisServer(model).start();
    try {
      const started = Date.now();
      const child = spawn('npm', ['run', '-s', 'preflight'], { cwd: REPO, env: { ...process.env, ...envFor(server.base), GOOGLE_APPLICATION_CREDENTIALS: adcFile } });
      let stdout = '';
      child.stdout.on('data', (c) => (stdout += c));
      const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
      const ms = Date.now() - started;
      expect(ms).toBeLessThan(60_000);
      expect(status).toBe(2);
      expect(stdout).toMatch(new RegExp(`^No answer from the token endpoint ${server.base}/token within 15\\.\\d s`, 'm'));
      expect(server.requests.map((r) => r.url)).toContain('/token');
      expect(server.requests.filter((r) => r.url !== '/token')).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 70_000);
});

describe('location policies as Google judges them', () => {
  test.each([
    ['no policy', [], 'ok', 'not restricted'],
    ['allowAll', [{ allowAll: true }], 'ok', 'not restricted'],
    ['denyAll', [{ denyAll: true }], 'fail', 'every location is denied (denyAll)'],
    ['the region\'s own group', [{ values: { allowedValues: ['in:us-central1-locations'] } }], 'ok', 'us-central1 is allowed by in:us-central1-locations'],
    ['a nested group', [{ values: { allowedValues: ['in:northamerica-locations'] } }], 'ok', 'us-central1 is allowed by in:northamerica-locations'],
    ['the region without its zones', [{ values: { allowedValues: ['us-central1'] } }], 'fail',
      'us-central1 is allowed but not its zones (allowed: us-central1): the history server\'s and the batches\' VMs are zonal'],
    ['another region and a zone', [{ values: { allowedValues: ['europe-west1', 'us-central1-a'] } }], 'fail', 'us-central1 is not allowed (allowed: europe-west1, us-central1-a)'],
    ['the region denied', [{ values: { deniedValues: ['in:us-central1-locations'] } }], 'fail', 'us-central1 is denied by in:us-central1-locations'],
    ['a group preflight has no membership for', [{ values: { allowedValues: ['in:mars-locations'] } }], 'unknown',
      'us-central1 is in none of the allowed values preflight can resolve (in:mars-locations); it has no membership for in:mars-locations'],
    ['a denied unknown group', [{ values: { deniedValues: ['in:mars-locations'] } }], 'unknown',
      'us-central1 is allowed: the policy only denies in:mars-locations; preflight has no membership for the denied in:mars-locations'],
    ['a denied zone', [{ values: { deniedValues: ['us-central1-b'] } }], 'unknown', 'us-central1 is allowed: the policy only denies us-central1-b, but its zones us-central1-b are denied'],
    ['a conditional rule that changes the answer', [{ values: { allowedValues: ['in:us-locations'] } },
      { values: { deniedValues: ['in:us-central1-locations'] }, condition: { expression: 'resource.matchTag(\'42/env\', \'prod\')' } }], 'unknown',
    'depends on conditional rules (resource.matchTag(\'42/env\', \'prod\')): without them ok: us-central1 is allowed by in:us-locations; with them fail: us-central1 is denied by in:us-central1-locations'],
    ['a conditional rule that does not', [{ values: { allowedValues: ['in:us-locations'] } },
      { values: { deniedValues: ['in:asia-locations'] }, condition: { expression: 'resource.matchTag(\'42/env\', \'prod\')' } }], 'ok',
    'us-central1 is allowed by in:us-locations (the same with or without its conditional rules: resource.matchTag(\'42/env\', \'prod\'))'],
  ] as Array<[string, PolicyRule[], Row['status'], string]>)('%s', async (_name, rules, status, found) => {
    const { rows } = await preflight(locations(...rules));
    expect(row(rows, LOCATIONS)).toMatchObject({ status, found });
  });

  test('group membership comes from the one table, and never holds a region of another continent', () => {
    expect(valueHolds('in:us-locations', 'us-east4')).toBe('yes');
    expect(valueHolds('in:europe-locations', 'us-central1')).toBe('no');
    expect(valueHolds('in:eu-locations', 'europe-west2')).toBe('no'); // London is in Europe, not the EU
    expect(valueHolds('in:europe-locations', 'europe-west2')).toBe('yes');
    expect(valueHolds('in:asia-locations', 'asia-south1')).toBe('yes');
    expect(valueHolds('is:us-central1', 'us-central1')).toBe('yes');
    expect(valueHolds('us', 'us-central1')).toBe('no'); // the multi-region is only itself
    expect(valueHolds('in:somewhere-locations', 'us-central1')).toBe('unknown');
  });
});

/** One changed model per case, and the row that must fail because of it. */
const FAILURES: Array<[string, string, (m: ProjectModel) => void, RegExp]> = [
  ['project pending deletion', 'project', (m) => { m.state = 'DELETE_REQUESTED'; }, /is DELETE_REQUESTED/],
  ['project missing or hidden', 'project', (m) => { m.projectId = 'someone-else'; }, /HTTP 403 PERMISSION_DENIED/],
  ['image not offered', 'composer image', (m) => { m.images['us-central1'] = [{ id: 'composer-3-airflow-3.2.2-build.4', released: '2026-09-02' }]; }, /is not offered in us-central1/],
  ['image no longer creatable', 'composer image', (m) => {
    m.images['us-central1'] = m.images['us-central1'].map((v) => ({ ...v, creationDisabled: v.id.startsWith(CONFIG.composerImage) ? true : v.creationDisabled }));
  }, /creation is disabled/],
  ['regional disks short', 'quota DISKS_TOTAL_GB (us-central1)', (m) => { m.regionQuotas['us-central1'][1] = { metric: 'DISKS_TOTAL_GB', limit: 2048, usage: 1000 }; }, /^1048 free of 2048; the lab takes 1235/],
  ['global CPUs short', 'quota CPUS_ALL_REGIONS (global)', (m) => { m.globalQuotas[0] = { metric: 'CPUS_ALL_REGIONS', limit: 12 }; }, /^12 free of 12/],
  ['no network left', 'quota NETWORKS (global)', (m) => { m.globalQuotas[1] = { metric: 'NETWORKS', limit: 5, usage: 5 }; }, /^0 free of 5/],
  ['service accounts cannot be created', 'org policy iam.disableServiceAccountCreation',
    (m) => { m.policies['iam.disableServiceAccountCreation'] = [{ enforce: true }]; }, /enforced/],
  ['service accounts cannot be created (managed constraint)', 'org policy iam.managed.disableServiceAccountCreation',
    (m) => { m.policies['iam.managed.disableServiceAccountCreation'] = [{ enforce: true }]; }, /enforced/],
  ['an API is not allowed', 'org policy gcp.restrictServiceUsage',
    (m) => { m.policies['gcp.restrictServiceUsage'] = [{ values: { deniedValues: ['dataproc.googleapis.com'] } }]; }, /not allowed: dataproc.googleapis.com/],
  ['CMEK required', 'org policy gcp.restrictNonCmekServices',
    (m) => { m.policies['gcp.restrictNonCmekServices'] = [{ values: { deniedValues: ['storage.googleapis.com'] } }]; }, /CMEK required for storage.googleapis.com/],
  ['soft delete must stay on', 'org policy storage.softDeletePolicySeconds',
    (m) => { m.policies['storage.softDeletePolicySeconds'] = [{ values: { allowedValues: ['604800', '1209600'] } }]; }, /retention of 0 is not allowed/],
  ['buckets must carry a retention policy', 'org policy storage.retentionPolicySeconds',
    (m) => { m.policies['storage.retentionPolicySeconds'] = [{ values: { allowedValues: ['86400'] } }]; }, /^buckets must carry a retention policy of 86400 s$/],
];

describe('each other check failing on its own', () => {
  test.each(FAILURES)('%s: the %s row fails and preflight exits 1', async (_name, check, change, found) => {
    const { code, rows, out } = await preflight(change);
    const r = row(rows, check);
    expect(r.status).toBe('fail');
    expect(r.found).toMatch(found);
    expect(r.action).not.toBe('-');
    if (found.source.includes('403')) {
      // A project the caller cannot see hides its policies and permissions too.
      expect(rows.filter((x) => x.status === 'fail').map((x) => x.check)).toEqual(['project']);
    } else onlyThese(rows, check);
    expect(code).toBe(1);
    expect(out).toContain('A deploy would fail');
  });

  test('a retention policy list that only denies some durations needs none: ok', async () => {
    const { rows } = await preflight((m) => { m.policies['storage.retentionPolicySeconds'] = [{ values: { deniedValues: ['86400'] } }]; });
    expect(row(rows, 'org policy storage.retentionPolicySeconds')).toMatchObject({ status: 'ok', found: 'buckets may go without a retention policy' });
  });

  test('an image the region does not create is answered with a tested line the region does create', async () => {
    const [legacy] = LEGACY_COMPOSER_IMAGES;
    const { rows } = await preflight((m) => {
      m.images['us-central1'] = [
        { id: 'composer-3-airflow-3.2.2-build.4', released: '2026-09-02' },
        { id: `${legacy}-build.14`, released: '2026-11-02' },
        { id: `${legacy}-build.9`, creationDisabled: true, released: '2026-05-02' },
      ];
    });
    // 3.2.2 is creatable but untested (S8S_COMPOSER_IMAGE refuses it), build.9 is not creatable.
    expect(row(rows, 'composer image').action).toBe(`set S8S_COMPOSER_IMAGE to a tested line the region creates: ${legacy}-build.14`);
  });
});

describe('APIs not enabled yet', () => {
  test('Compute Engine API disabled (its v1 error also carries errors[].reason accessNotConfigured): every quota row says so', async () => {
    const { code, rows } = await preflight((m) => { m.disabled.add('compute.googleapis.com'); });
    const quotaRows = rows.filter((r) => r.check.startsWith('quota '));
    expect(quotaRows).toHaveLength(6);
    for (const r of quotaRows) expect(r).toMatchObject({ status: 'unknown', found: `compute.googleapis.com is not enabled in projects/${NUMBER}` });
    onlyThese(rows, ...quotaRows.map((r) => r.check));
    expect(code).toBe(2);
  });

  test('Org Policy API disabled in the quota project', async () => {
    const { code, rows, out } = await preflight((m) => { m.disabled.add('orgpolicy.googleapis.com'); });
    onlyThese(rows, ...CHECKS.filter((c) => c.startsWith('org policy')));
    expect(out.split('\n').filter((l) => l.startsWith('  gcloud services enable'))).toEqual([`  gcloud services enable orgpolicy.googleapis.com --project ${NUMBER}`]);
    expect(code).toBe(2);
  });
});

describe('the test server answers as Google does', () => {
  const { names, services } = loadPermissionNames();

  test('it reads the shared permission list from beside the clone', () => {
    expect(PERMISSIONS_FILE).toMatch(/\/shared\/iam-permissions\/gcp-permissions\.txt$/);
    expect(path.dirname(path.dirname(path.dirname(PERMISSIONS_FILE)))).toBe(path.dirname(
      spawnSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: REPO, encoding: 'utf-8' }).stdout.trim().replace(/\/\.git$/, '')));
    expect(names.size).toBeGreaterThan(1000);
    expect([...services].sort()).toEqual(['bigquery', 'composer', 'compute', 'dataproc', 'iam', 'orgpolicy', 'resourcemanager', 'serviceusage', 'storage']);
  });

  test('every permission preflight asks about is a real one (in the file)', () => {
    expect(deployPermissions().filter((p) => !names.has(p))).toEqual([]);
    // The operation polls deploy makes, and the project read.
    expect(deployPermissions()).toEqual(expect.arrayContaining([
      'resourcemanager.projects.get', 'serviceusage.operations.get', 'compute.globalOperations.get', 'compute.regionOperations.get',
      'dataproc.operations.get', 'composer.operations.get',
    ]));
  });

  test('testIamPermissions: only held names come back; a misspelt one is a 400 for the whole call; none held is {}', async () => {
    const model = healthyProject(PROJECT, LINE_ALIAS, ['storage.buckets.get']);
    const server = await new GoogleApisServer(model).start();
    try {
      const ask = async (permissions: string[]) => {
        const res = await fetch(`${server.base}/v3/projects/${PROJECT}:testIamPermissions`, { method: 'POST', body: JSON.stringify({ permissions }) });
        return [res.status, await res.json()];
      };
      expect(await ask(['storage.buckets.get', 'storage.buckets.delete'])).toEqual([200, { permissions: ['storage.buckets.get'] }]);
      expect(await ask(['storage.buckets.delete'])).toEqual([200, {}]);
      expect(await ask(['storage.buckets.get', 'storage.bucket.get'])).toEqual([400, {
        error: { code: 400, message: 'Permission storage.bucket.get is not valid for this resource.', status: 'INVALID_ARGUMENT' },
      }]);
    } finally {
      await server.stop();
    }
  });
});

describe('credentials and configuration', () => {
  test('refused ADC (revoked refresh token) gives one message saying what to run, exit 1, and no API call', async () => {
    const model = healthyProject(PROJECT, LINE_ALIAS, deployPermissions());
    model.tokenRevoked = true;
    const server = await new GoogleApisServer(model).start();
    try {
      const lines: string[] = [];
      const code = await main(envFor(server.base), (s) => lines.push(s));
      expect(code).toBe(1);
      expect(parseRows(lines.join('\n'))).toEqual([]);
      expect(lines.join('\n')).toContain('gcloud auth application-default login');
      expect(server.requests.every((r) => r.url === '/token')).toBe(true);
    } finally {
      await server.stop();
    }
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
    const { code, out, server } = await preflight(() => {}, { S8S_REGION: 'mars-north1' });
    expect(code).toBe(1);
    expect(out).toContain('S8S_REGION: "mars-north1" is not valid; expected one of');
    expect(server.requests).toEqual([]);
  });

  test('every base URL is overridable and defaults to Google\'s', () => {
    expect(endpointsFrom({})).toEqual({
      resourcemanager: 'https://cloudresourcemanager.googleapis.com', cloudbilling: 'https://cloudbilling.googleapis.com',
      composer: 'https://composer.googleapis.com', compute: 'https://compute.googleapis.com', orgpolicy: 'https://orgpolicy.googleapis.com',
    });
    expect(Object.values(endpointsFrom(envFor('http://127.0.0.1:1'))).every((u) => u === 'http://127.0.0.1:1')).toBe(true);
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
