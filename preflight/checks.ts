/**
 * The checks `npm run preflight` makes, each a read of a documented Google Cloud REST method.
 * A check answers ok, fail (deploy would fail or the lab would not run) or unknown (it could not
 * be read: an API not enabled yet, a permission missing, a policy preflight cannot evaluate).
 */
import { LabConfig, TESTED_COMPOSER_IMAGES } from '../lib/config';
import { LabNames } from '../lib/names';
import { LAB_APIS } from '../lib/services';
import { ApiError, GoogleApis } from './google';
import { labNeeds, QuotaNeed } from './needs';
import { deployPermissions } from './permissions';

export type Status = 'ok' | 'fail' | 'unknown';

export interface Row {
  readonly check: string;
  readonly status: Status;
  readonly found: string;
  /** What to do; empty when nothing is. */
  readonly action: string;
}

export interface Context {
  readonly config: LabConfig;
  readonly api: GoogleApis;
  readonly batchSize?: Record<string, string>;
}

const ok = (check: string, found: string): Row => ({ check, status: 'ok', found, action: '' });
const fail = (check: string, found: string, action: string): Row => ({ check, status: 'fail', found, action });
const unknown = (check: string, found: string, action: string): Row => ({ check, status: 'unknown', found, action });

/** An API error as a row: a disabled API says which to enable, anything else what came back. */
function fromError(check: string, e: unknown, otherwise = 'check the message; preflight reads only'): Row {
  if (e instanceof ApiError) {
    if (e.serviceDisabled) {
      return unknown(check, `${e.service ?? 'an API'} is not enabled in ${e.consumer ?? 'the project'}`,
        `${e.enableCommand ?? 'enable the API'} (deploy enables the lab's APIs itself; preflight changes nothing), then run preflight again`);
    }
    return unknown(check, `HTTP ${e.httpStatus} ${e.status}: ${e.message}`, otherwise);
  }
  return unknown(check, `no answer: ${(e as Error).message}`, 'check the network and run preflight again');
}

interface Project { name: string; projectId: string; state: string }

/** resourcemanager v3 projects.get: the project exists and is ACTIVE; its number names it for org policies. */
async function checkProject(ctx: Context): Promise<{ row: Row; number?: string }> {
  const check = 'project';
  const id = ctx.config.projectId;
  try {
    const p = await ctx.api.get<Project>('resourcemanager', `/v3/projects/${id}`);
    if (p.state !== 'ACTIVE') {
      return { row: fail(check, `${id} is ${p.state}`, 'deploy into an ACTIVE project (a project pending deletion can be restored with gcloud projects undelete)') };
    }
    return { row: ok(check, `${id} (${p.name}) is ACTIVE`), number: p.name.replace(/^projects\//, '') };
  } catch (e) {
    if (e instanceof ApiError && (e.httpStatus === 403 || e.httpStatus === 404) && !e.serviceDisabled) {
      // Google answers 403 both for a project that does not exist and for one you may not see.
      return { row: fail(check, `${id}: HTTP ${e.httpStatus} ${e.status}: ${e.message}`, 'check GOOGLE_CLOUD_PROJECT; it must exist and you need resourcemanager.projects.get on it') };
    }
    return { row: fromError(check, e) };
  }
}

/** cloudbilling v1 projects.getBillingInfo: billingEnabled. */
async function checkBilling(ctx: Context): Promise<Row> {
  const check = 'billing';
  try {
    const info = await ctx.api.get<{ billingEnabled?: boolean; billingAccountName?: string }>(
      'cloudbilling', `/v1/projects/${ctx.config.projectId}/billingInfo`);
    if (info.billingEnabled === true) return ok(check, `enabled (${info.billingAccountName})`);
    return fail(check, 'billing is not enabled', `gcloud billing projects link ${ctx.config.projectId} --billing-account=ACCOUNT_ID`);
  } catch (e) {
    return fromError(check, e, 'ask for billing.resourceAssociations.list on the project, or check billing in the console');
  }
}

interface ImageVersion { imageVersionId: string; creationDisabled?: boolean; releaseDate?: { year: number; month: number; day: number } }

/**
 * composer v1 imageVersions.list in the region: the configured image (an exact build or an alias
 * without -build.N, which resolves to a build at creation) is listed and creatable.
 */
async function checkComposerImage(ctx: Context): Promise<Row> {
  const check = 'composer image';
  const { composerImage: image, projectId, region } = ctx.config;
  try {
    const versions: ImageVersion[] = [];
    let pageToken = '';
    do {
      const page = await ctx.api.get<{ imageVersions?: ImageVersion[]; nextPageToken?: string }>(
        'composer', `/v1/projects/${projectId}/locations/${region}/imageVersions?pageSize=500${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`);
      versions.push(...(page.imageVersions ?? []));
      pageToken = page.nextPageToken ?? '';
    } while (pageToken);
    const matching = versions.filter((v) => v.imageVersionId === image || v.imageVersionId.startsWith(`${image}-build.`));
    const creatable = matching.filter((v) => v.creationDisabled !== true);
    // Only the lines the lab is tested on (S8S_COMPOSER_IMAGE accepts no other): their newest creatable builds.
    const tested = versions.filter((v) => v.creationDisabled !== true &&
      TESTED_COMPOSER_IMAGES.some((line) => v.imageVersionId === line || v.imageVersionId.startsWith(`${line}-build.`)))
      .map((v) => v.imageVersionId).sort(byBuild).slice(-3).reverse();
    const pick = tested.length > 0
      ? `set S8S_COMPOSER_IMAGE to a tested line the region creates: ${tested.join(', ')}`
      : `the region creates none of the lines the lab is tested on (${TESTED_COMPOSER_IMAGES.join(', ')}): deploy in another S8S_REGION`;
    if (matching.length === 0) return fail(check, `${image} is not offered in ${region}`, pick);
    if (creatable.length === 0) return fail(check, `${image}: creation is disabled in ${region} for ${matching.map((v) => v.imageVersionId).join(', ')}`, pick);
    const build = creatable.map((v) => v.imageVersionId).sort(byBuild).pop();
    return ok(check, build === image ? `${image} is creatable in ${region}` : `${image} resolves to ${build} in ${region}`);
  } catch (e) {
    return fromError(check, e);
  }
}

/** Orders composer-3-airflow-X.Y.Z-build.N ids by their numbers. */
function byBuild(a: string, b: string): number {
  const nums = (s: string) => (s.match(/\d+/g) ?? []).map(Number);
  const [x, y] = [nums(a), nums(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? -1) !== (y[i] ?? -1)) return (x[i] ?? -1) - (y[i] ?? -1);
  return 0;
}

interface Quota { metric: string; limit: number; usage: number }

/** compute v1 regions.get and projects.get: each quota's limit minus usage covers what the lab takes. */
async function checkQuotas(ctx: Context): Promise<Row[]> {
  const { projectId, region } = ctx.config;
  const needs = labNeeds(ctx.config, ctx.batchSize);
  const read = async (scope: 'region' | 'global') => {
    const path = scope === 'region' ? `/compute/v1/projects/${projectId}/regions/${region}` : `/compute/v1/projects/${projectId}`;
    return (await ctx.api.get<{ quotas?: Quota[] }>('compute', path)).quotas ?? [];
  };
  const rows: Row[] = [];
  for (const scope of ['region', 'global'] as const) {
    const mine = needs.filter((n) => n.scope === scope);
    let quotas: Quota[];
    try {
      quotas = await read(scope);
    } catch (e) {
      rows.push(...mine.map((n) => fromError(quotaName(n, region), e)));
      continue;
    }
    for (const need of mine) rows.push(quotaRow(need, quotas.find((q) => q.metric === need.metric), region));
  }
  return rows;
}

const quotaName = (n: QuotaNeed, region: string) => `quota ${n.metric}${n.scope === 'region' ? ` (${region})` : ' (global)'}`;

function quotaRow(need: QuotaNeed, quota: Quota | undefined, region: string): Row {
  const check = quotaName(need, region);
  if (quota === undefined) return unknown(check, `${need.metric} is not listed`, 'check it in IAM & Admin > Quotas');
  const free = quota.limit - quota.usage;
  const found = `${free} free of ${quota.limit}; the lab takes ${need.amount} (${need.why})`;
  if (free >= need.amount) return ok(check, found);
  return fail(check, found, `ask for at least ${quota.usage + need.amount} in IAM & Admin > Quotas (${need.metric}${need.scope === 'region' ? `, ${region}` : ''}), or free some up`);
}

/** resourcemanager v3 projects.testIamPermissions: the caller holds what deploy and destroy use. */
async function checkPermissions(ctx: Context): Promise<Row> {
  const check = 'your permissions';
  const wanted = deployPermissions();
  try {
    const res = await ctx.api.post<{ permissions?: string[] }>('resourcemanager',
      `/v3/projects/${ctx.config.projectId}:testIamPermissions`, { permissions: wanted });
    const granted = new Set(res.permissions ?? []);
    const missing = wanted.filter((p) => !granted.has(p));
    if (missing.length === 0) return ok(check, `all ${wanted.length} that deploy and destroy use`);
    return fail(check, `missing ${missing.length} of ${wanted.length}: ${missing.join(', ')}`,
      'ask for roles/owner on the project (simplest for a lab), or roles that grant the missing permissions');
  } catch (e) {
    return fromError(check, e);
  }
}

// --- Organization policies (orgpolicy v2 getEffectivePolicy) ---

interface PolicyRule {
  values?: { allowedValues?: string[]; deniedValues?: string[] };
  allowAll?: boolean;
  denyAll?: boolean;
  enforce?: boolean;
  condition?: unknown;
}
interface Policy { spec?: { rules?: PolicyRule[] } }

/** What the effective list policy allows, merged over its rules; conditional rules are flagged. */
function listPolicy(p: Policy) {
  const rules = p.spec?.rules ?? [];
  return {
    conditional: rules.some((r) => r.condition !== undefined),
    denyAll: rules.some((r) => r.denyAll === true && r.condition === undefined),
    allowAll: rules.length === 0 || rules.some((r) => r.allowAll === true && r.condition === undefined),
    allowed: rules.flatMap((r) => r.values?.allowedValues ?? []).map(bare),
    denied: rules.flatMap((r) => r.values?.deniedValues ?? []).map(bare),
  };
}
const bare = (v: string) => v.replace(/^is:/, '');

function enforced(p: Policy): boolean {
  return (p.spec?.rules ?? []).some((r) => r.enforce === true && r.condition === undefined);
}

interface OrgCheck {
  readonly constraint: string;
  /** Why a Google Cloud engineer checks it for this lab. */
  readonly why: string;
  readonly evaluate: (p: Policy, config: LabConfig) => { status: Status; found: string; action?: string };
}

/**
 * The organization policies that would stop the lab, each with the reason. Constraints:
 * https://cloud.google.com/resource-manager/docs/organization-policy/org-policy-constraints.
 */
export const ORG_CHECKS: readonly OrgCheck[] = [
  {
    constraint: 'gcp.resourceLocations',
    why: 'every lab resource is in S8S_REGION; Composer needs the whole region allowed, not a zone (https://cloud.google.com/composer/docs/resource-location-restrictions)',
    evaluate: (p, { region }) => {
      const l = listPolicy(p);
      const covers = (v: string) => v === region || v === `in:${region}-locations`;
      if (l.denyAll || l.denied.some(covers)) return { status: 'fail', found: `${region} is denied`, action: 'pick an allowed S8S_REGION or ask for an exception' };
      if (l.allowAll && l.allowed.length === 0) return { status: 'ok', found: 'not restricted' };
      if (l.allowed.some(covers)) return { status: 'ok', found: `${region} is allowed (the stack grants s8s-lab-sa ActAs on itself, which Composer 3 needs here)` };
      const groups = l.allowed.filter((v) => v.startsWith('in:'));
      if (groups.length > 0 || l.conditional) {
        return { status: 'unknown', found: `allowed: ${l.allowed.join(', ')}${l.conditional ? ' (with conditions)' : ''}`, action: `make sure ${region} is in one of these value groups` };
      }
      return { status: 'fail', found: `allowed: ${l.allowed.join(', ')}; not ${region}`, action: 'pick an allowed S8S_REGION or ask for an exception' };
    },
  },
  {
    constraint: 'iam.disableServiceAccountCreation',
    why: 'the stack creates two service accounts (s8s-lab-sa, s8s-spark-sa)',
    evaluate: (p) => (enforced(p)
      ? { status: 'fail', found: 'enforced: service accounts cannot be created', action: 'ask for an exception on this project' }
      : { status: 'ok', found: 'not enforced' }),
  },
  {
    constraint: 'gcp.restrictServiceUsage',
    why: 'the lab uses these APIs: ' + LAB_APIS.join(', '),
    evaluate: (p) => {
      const l = listPolicy(p);
      const blocked = LAB_APIS.filter((s) => l.denyAll || l.denied.includes(s) || (!l.allowAll && l.allowed.length > 0 && !l.allowed.includes(s)));
      if (blocked.length > 0) return { status: 'fail', found: `not allowed: ${blocked.join(', ')}`, action: 'ask for these services to be allowed on this project' };
      return { status: l.conditional ? 'unknown' : 'ok', found: l.conditional ? 'has conditional rules' : 'every lab API is allowed', action: l.conditional ? 'check the conditions' : '' };
    },
  },
  {
    constraint: 'gcp.restrictNonCmekServices',
    why: 'the lab uses Google-managed keys (a Cloud KMS key could never be deleted by destroy; lib/policy.ts)',
    evaluate: (p) => {
      const l = listPolicy(p);
      const cmekOnly = ['bigquery.googleapis.com', 'composer.googleapis.com', 'compute.googleapis.com', 'dataproc.googleapis.com', 'storage.googleapis.com']
        .filter((s) => l.denyAll || l.denied.includes(s));
      if (cmekOnly.length > 0) return { status: 'fail', found: `CMEK required for ${cmekOnly.join(', ')}`, action: 'ask for an exception on this project (the lab holds synthetic data only)' };
      return { status: 'ok', found: 'Google-managed keys are allowed for the lab\'s services' };
    },
  },
  {
    constraint: 'storage.softDeletePolicySeconds',
    why: 'the lab\'s buckets turn soft delete off (retention 0), so destroy leaves nothing billing (lib/storage.ts)',
    evaluate: (p) => {
      const l = listPolicy(p);
      if (l.denyAll || l.denied.includes('0') || (!l.allowAll && l.allowed.length > 0 && !l.allowed.includes('0'))) {
        return { status: 'fail', found: `a retention of 0 is not allowed (allowed: ${l.allowed.join(', ') || 'none'})`, action: 'ask for an exception: bucket creation would fail' };
      }
      return { status: 'ok', found: 'a retention of 0 is allowed' };
    },
  },
];

async function checkOrgPolicies(ctx: Context, projectNumber: string | undefined): Promise<Row[]> {
  return Promise.all(ORG_CHECKS.map(async (c): Promise<Row> => {
    const check = `org policy ${c.constraint}`;
    if (projectNumber === undefined) return unknown(check, 'needs the project, which could not be read', 'fix the project check first');
    try {
      const policy = await ctx.api.get<Policy>('orgpolicy', `/v2/projects/${projectNumber}/policies/${c.constraint}:getEffectivePolicy`);
      const r = c.evaluate(policy, ctx.config);
      return { check, status: r.status, found: r.found, action: r.status === 'ok' ? '' : `${r.action ?? ''} (why it matters: ${c.why})` };
    } catch (e) {
      return fromError(check, e, 'ask for orgpolicy.policy.get (roles/orgpolicy.policyViewer) or ask an administrator');
    }
  }));
}

/** Every check, the project first (its number names the org policies), the rest at once. */
export async function runChecks(ctx: Context): Promise<Row[]> {
  const project = await checkProject(ctx);
  const [billing, image, quotas, permissions, policies] = await Promise.all([
    checkBilling(ctx), checkComposerImage(ctx), checkQuotas(ctx), checkPermissions(ctx), checkOrgPolicies(ctx, project.number),
  ]);
  return [project.row, billing, image, ...quotas, permissions, ...policies];
}

/** 1 if any check failed, 2 if none failed but some could not be read, 0 when all passed. */
export function exitCode(rows: readonly Row[]): number {
  if (rows.some((r) => r.status === 'fail')) return 1;
  return rows.some((r) => r.status === 'unknown') ? 2 : 0;
}

/** The names deploy will use, for the report's header. */
export function describeTarget(config: LabConfig): string {
  const names = new LabNames(config);
  return `project ${config.projectId}, region ${config.region}, Composer ${names.composerEnvironment} (${config.composerImage}), history server ${names.historyServer} (${config.phsMachineType}, ${config.phsDiskGb} GB)`;
}
