/**
 * The checks `npm run preflight` makes, each a read of a documented Google Cloud REST method.
 * A check answers ok, fail (deploy would fail or the lab would not run) or unknown (it could not
 * be read: an API not enabled yet, a permission missing, a policy preflight cannot evaluate).
 */
import { LabConfig, TESTED_COMPOSER_IMAGES } from '../lib/config';
import { LabNames } from '../lib/names';
import { NoAnswer } from './budget';
import { ApiError, GoogleApis } from './google';
import { labNeeds, QuotaNeed } from './needs';
import { judgePolicy, ORG_CHECKS, Policy } from './orgpolicy';
import { deployPermissions } from './permissions';

export type Status = 'ok' | 'fail' | 'unknown';

export interface Row {
  readonly check: string;
  readonly status: Status;
  readonly found: string;
  /** What to do; empty when nothing is. */
  readonly action: string;
  /** Set when the row could not be read because an API is not enabled (not printed in the table). */
  readonly disabledApi?: { readonly service: string; readonly consumer?: string };
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
      return {
        ...unknown(check, `${e.service ?? 'an API'} is not enabled in ${e.consumer ?? 'the project'}`,
          `${e.enableCommand ?? 'enable the API'} (preflight changes nothing itself), then run preflight again`),
        ...(e.service ? { disabledApi: { service: e.service, consumer: e.consumer } } : {}),
      };
    }
    return unknown(check, `HTTP ${e.httpStatus} ${e.status}: ${e.message}`, otherwise);
  }
  if (e instanceof NoAnswer) return unknown(check, e.message, 'check the network (a proxy or firewall in the way?), then run preflight again');
  // fetch's own failures (DNS, refused connection) carry the reason in `cause`.
  const cause = (e as { cause?: { message?: string } }).cause?.message;
  return unknown(check, `could not be read: ${(e as Error).message}${cause ? ` (${cause})` : ''}`, 'check the network, then run preflight again');
}

interface Project { name: string; projectId: string; state: string }

/** resourcemanager v3 projects.get: the project exists and is ACTIVE. */
async function checkProject(ctx: Context): Promise<Row> {
  const check = 'project';
  const id = ctx.config.projectId;
  try {
    const p = await ctx.api.get<Project>('resourcemanager', `/v3/projects/${id}`);
    if (p.state !== 'ACTIVE') {
      return fail(check, `${id} is ${p.state}`, 'deploy into an ACTIVE project (a project pending deletion can be restored with gcloud projects undelete)');
    }
    return ok(check, `${id} (${p.name}) is ACTIVE`);
  } catch (e) {
    if (e instanceof ApiError && (e.httpStatus === 403 || e.httpStatus === 404) && !e.serviceDisabled) {
      // Google answers 403 both for a project that does not exist and for one you may not see.
      return fail(check, `${id}: HTTP ${e.httpStatus} ${e.status}: ${e.message}`, 'check GOOGLE_CLOUD_PROJECT; it must exist and you need resourcemanager.projects.get on it');
    }
    return fromError(check, e);
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
 * composer v1 imageVersions.list in the region, with includePastReleases=true: without it the list
 * holds only the current release's builds, and a build pinned from an earlier release (still
 * creatable for 12 months) would look not offered
 * (https://cloud.google.com/composer/docs/reference/rest/v1/projects.locations.imageVersions/list).
 * The configured image (an exact build or an alias without -build.N, which resolves to a build at
 * creation) must be listed and creatable.
 */
async function checkComposerImage(ctx: Context): Promise<Row> {
  const check = 'composer image';
  const { composerImage: image, projectId, region } = ctx.config;
  try {
    const versions: ImageVersion[] = [];
    let pageToken = '';
    do {
      const page = await ctx.api.get<{ imageVersions?: ImageVersion[]; nextPageToken?: string }>(
        'composer', `/v1/projects/${projectId}/locations/${region}/imageVersions?pageSize=500&includePastReleases=true${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`);
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

/** A quota as Compute Engine lists it; a usage of 0 may be left out. */
interface Quota { metric: string; limit: number; usage?: number }
/** Set instead of `quotas` when Compute Engine could not read them this time (Region.quotaStatusWarning). */
interface QuotaWarning { code?: string; message?: string }
interface WithQuotas { quotas?: Quota[]; quotaStatusWarning?: QuotaWarning }

/** compute v1 regions.get and projects.get, read at once: each quota's limit minus usage covers what the lab takes. */
async function checkQuotas(ctx: Context): Promise<Row[]> {
  const { projectId, region } = ctx.config;
  const needs = labNeeds(ctx.config, ctx.batchSize);
  const byScope = await Promise.all((['region', 'global'] as const).map(async (scope): Promise<Row[]> => {
    const mine = needs.filter((n) => n.scope === scope);
    const path = scope === 'region' ? `/compute/v1/projects/${projectId}/regions/${region}` : `/compute/v1/projects/${projectId}`;
    let answer: WithQuotas;
    try {
      answer = await ctx.api.get<WithQuotas>('compute', path);
    } catch (e) {
      return mine.map((n) => fromError(quotaName(n, region), e));
    }
    return mine.map((need) => quotaRow(need, (answer.quotas ?? []).find((q) => q.metric === need.metric), answer.quotaStatusWarning, region));
  }));
  return byScope.flat();
}

const quotaName = (n: QuotaNeed, region: string) => `quota ${n.metric}${n.scope === 'region' ? ` (${region})` : ' (global)'}`;

function quotaRow(need: QuotaNeed, quota: Quota | undefined, warning: QuotaWarning | undefined, region: string): Row {
  const check = quotaName(need, region);
  if (quota === undefined && warning !== undefined) {
    // Compute Engine answered, but without its quotas: nothing is known about this one.
    return unknown(check, `Compute Engine sent no quotas but a quotaStatusWarning: ${warning.code ?? 'no code'}: ${warning.message ?? 'no message'}`,
      'a passing failure on Google\'s side: run preflight again in a minute');
  }
  if (quota === undefined) return unknown(check, `${need.metric} is not listed`, 'check it in IAM & Admin > Quotas');
  const usage = quota.usage ?? 0;
  const free = quota.limit - usage;
  const found = `${free} free of ${quota.limit}; the lab takes ${need.amount} (${need.why})`;
  if (free >= need.amount) return ok(check, found);
  return fail(check, found, `ask for at least ${usage + need.amount} in IAM & Admin > Quotas (${need.metric}${need.scope === 'region' ? `, ${region}` : ''}), or free some up`);
}

/** What testIamPermissions said of a list of names: those held, and those Google refused as names. */
interface PermissionAnswer { held: Set<string>; rejected: Array<{ name: string; message: string }> }

/** How many smaller groups a rejected list is split into before each name is tried alone. */
const SPLIT = 8;

/**
 * resourcemanager v3 projects.testIamPermissions answers the names the caller holds, and HTTP 400
 * for the whole call when one name is not a valid permission
 * (https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions; a name
 * that is not a project permission, such as resourcemanager.projects.create, gets the 400 too:
 * googleapis/google-cloud-java#722). So
 * that one bad name does not void the rest, a rejected list is checked again in smaller groups
 * at once, and a rejected group name by name: at most three rounds.
 */
async function testPermissions(ctx: Context, names: readonly string[]): Promise<PermissionAnswer> {
  try {
    const res = await ctx.api.post<{ permissions?: string[] }>('resourcemanager',
      `/v3/projects/${ctx.config.projectId}:testIamPermissions`, { permissions: names });
    return { held: new Set(res.permissions ?? []), rejected: [] };
  } catch (e) {
    if (!(e instanceof ApiError && e.httpStatus === 400)) throw e;
    if (names.length === 1) return { held: new Set(), rejected: [{ name: names[0], message: e.message }] };
    const size = Math.ceil(names.length / SPLIT);
    const groups = Array.from({ length: Math.ceil(names.length / size) }, (_, i) => names.slice(i * size, (i + 1) * size));
    const answers = await Promise.all(groups.map((g) => testPermissions(ctx, g)));
    return { held: new Set(answers.flatMap((a) => [...a.held])), rejected: answers.flatMap((a) => a.rejected) };
  }
}

/** The caller holds what deploy and destroy use; a name Google refuses is preflight's own fault, reported apart. */
async function checkPermissions(ctx: Context): Promise<Row[]> {
  const check = 'your permissions';
  const wanted = deployPermissions();
  let answer: PermissionAnswer;
  try {
    answer = await testPermissions(ctx, wanted);
  } catch (e) {
    return [fromError(check, e)];
  }
  const rejected = new Set(answer.rejected.map((r) => r.name));
  const checked = wanted.filter((p) => !rejected.has(p));
  const missing = checked.filter((p) => !answer.held.has(p));
  const ask = 'ask for roles/owner on the project (simplest for a lab), or roles that grant the missing permissions';
  const rows: Row[] = [];
  if (checked.length > 0 && missing.length === checked.length) {
    rows.push(fail(check, `you hold none of the ${checked.length} permissions deploy and destroy use (${missing.join(', ')})`, ask));
  } else if (missing.length > 0) {
    rows.push(fail(check, `missing ${missing.length} of ${checked.length}: ${missing.join(', ')}`, ask));
  } else {
    rows.push(ok(check, `all ${checked.length} that deploy and destroy use${rejected.size > 0 ? ` (of ${wanted.length}: see the row below)` : ''}`));
  }
  if (rejected.size > 0) {
    rows.push(unknown('preflight\'s permission list',
      `Google refused ${[...rejected].join(', ')} as not a valid permission (${answer.rejected[0].message}); the other ${checked.length} were checked`,
      'a fault in preflight (preflight/permissions.ts), not in your project: please report it; deploy may still need what the name meant'));
  }
  return rows;
}

/**
 * orgpolicy v2 getEffectivePolicy for each constraint, named by the project id (the API accepts it
 * and answers with the number: https://cloud.google.com/resource-manager/docs/reference/orgpolicy/rest/v2/projects.policies),
 * so the policies are read at once with everything else rather than after projects.get.
 */
async function checkOrgPolicies(ctx: Context): Promise<Row[]> {
  return Promise.all(ORG_CHECKS.map(async (c): Promise<Row> => {
    const check = `org policy ${c.constraint}`;
    try {
      const policy = await ctx.api.get<Policy>('orgpolicy', `/v2/projects/${ctx.config.projectId}/policies/${c.constraint}:getEffectivePolicy`);
      const r = judgePolicy(c, policy, ctx.config);
      return { check, status: r.status, found: r.found, action: r.status === 'ok' ? '' : `${r.action ?? ''} (why it matters: ${c.why})` };
    } catch (e) {
      return fromError(check, e, 'ask for orgpolicy.policy.get (roles/orgpolicy.policyViewer) or ask an administrator');
    }
  }));
}

/** Every check at once: no read depends on another, so the slowest alone sets the time taken. */
export async function runChecks(ctx: Context): Promise<Row[]> {
  const [project, billing, image, quotas, permissions, policies] = await Promise.all([
    checkProject(ctx), checkBilling(ctx), checkComposerImage(ctx), checkQuotas(ctx), checkPermissions(ctx), checkOrgPolicies(ctx),
  ]);
  return [project, billing, image, ...quotas, ...permissions, ...policies];
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
