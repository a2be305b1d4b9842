/**
 * A local HTTP server that answers preflight's calls as Google's REST APIs do, from a model of
 * one project. No emulator of these APIs exists, so the answers follow the REST references:
 * - resourcemanager v3 projects.get, projects.testIamPermissions: only the permissions the caller
 *   holds come back, and a name that is not a valid permission fails the whole call with HTTP 400
 *   INVALID_ARGUMENT. Names are judged against ../shared/iam-permissions/gcp-permissions.txt (the
 *   permissions of Google's predefined roles, 2026-08-22), for the services that file covers;
 * - cloudbilling v1 projects.getBillingInfo; composer v1 imageVersions.list (paged, and past
 *   releases only with includePastReleases=true); compute v1 regions.get / projects.get (quotas,
 *   or a quotaStatusWarning instead); orgpolicy v2 getEffectivePolicy (by project id or number,
 *   answered with the number);
 * - JSON as Google's proto3 mapping writes it: false, 0, "" and empty lists are left out;
 * - errors in the documented body (https://cloud.google.com/apis/design/errors): a disabled API is
 *   403 PERMISSION_DENIED with a google.rpc.ErrorInfo whose reason is SERVICE_DISABLED.
 * Every request is recorded; each API can be made to answer late, or never.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { AddressInfo, Socket } from 'net';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/**
 * shared/ sits beside the clone (CI, and /work/main here). In a git worktree elsewhere the clone is
 * the directory holding git's common directory, so that one's sibling is tried next.
 */
function sharedBeside(): string {
  const repo = path.resolve(__dirname, '..');
  const candidates = [path.resolve(repo, '..', 'shared')];
  const common = spawnSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: repo, encoding: 'utf-8' });
  if (common.status === 0) candidates.push(path.resolve(common.stdout.trim(), '..', '..', 'shared'));
  const found = candidates.find((c) => fs.existsSync(path.join(c, 'iam-permissions', 'gcp-permissions.txt')));
  if (!found) throw new Error(`shared/iam-permissions/gcp-permissions.txt not found beside the clone (looked in ${candidates.join(', ')})`);
  return found;
}

/** The permissions of Google's predefined roles as of 2026-08-22 (see the file's header). */
export const PERMISSIONS_FILE = path.join(sharedBeside(), 'iam-permissions', 'gcp-permissions.txt');

/** The real permission names, and the services the file covers (its names' first part). */
export function loadPermissionNames(file: string = PERMISSIONS_FILE): { names: Set<string>; services: Set<string> } {
  const names = new Set(fs.readFileSync(file, 'utf-8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  return { names, services: new Set([...names].map((n) => n.split('.')[0])) };
}

export interface ImageVersion {
  readonly id: string;
  readonly creationDisabled?: boolean;
  /** Built for an earlier Composer release: listed only with includePastReleases=true. */
  readonly pastRelease?: boolean;
  readonly released: string;
}

export interface Quota { readonly metric: string; readonly limit: number; readonly usage?: number }

export interface PolicyRule {
  values?: { allowedValues?: string[]; deniedValues?: string[] };
  allowAll?: boolean;
  denyAll?: boolean;
  enforce?: boolean;
  condition?: { expression: string; title?: string };
}

/** Google's APIs as this server names them (the service in a SERVICE_DISABLED error). */
export type Service = 'cloudresourcemanager.googleapis.com' | 'cloudbilling.googleapis.com' | 'composer.googleapis.com'
  | 'compute.googleapis.com' | 'orgpolicy.googleapis.com';

const TITLES: Record<Service, string> = {
  'cloudresourcemanager.googleapis.com': 'Cloud Resource Manager API',
  'cloudbilling.googleapis.com': 'Cloud Billing API',
  'composer.googleapis.com': 'Cloud Composer API',
  'compute.googleapis.com': 'Compute Engine API',
  'orgpolicy.googleapis.com': 'Organization Policy API',
};

export interface ProjectModel {
  projectId: string;
  number: string;
  state: 'ACTIVE' | 'DELETE_REQUESTED';
  billingAccount?: string;
  disabled: Set<Service>;
  /** Image versions per region. */
  images: Record<string, ImageVersion[]>;
  regionQuotas: Record<string, Quota[]>;
  globalQuotas: Quota[];
  /** Compute Engine could not read the region's quotas this time. */
  quotaWarning?: { code: string; message: string };
  /** Permissions the caller holds on the project. */
  held: Set<string>;
  /** Names Google no longer accepts although the file lists them (a permission retired after 2026-08-22). */
  retired: Set<string>;
  /** Effective policy rules per constraint; absent means no policy anywhere in the hierarchy. */
  policies: Record<string, PolicyRule[]>;
  /** Milliseconds before each API answers; 'never' keeps the connection open without an answer. */
  delayMs: number | 'never';
  tokenDelayMs: number | 'never';
  /** Most image versions one page holds, whatever pageSize asks (Google may return fewer than asked). */
  pageLimit: number;
  /** The refresh token was revoked: the token endpoint refuses it. */
  tokenRevoked?: boolean;
}

export interface Recorded { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

export const TOKEN = 'ya29.local-test-token';

/** Drops proto3 defaults (false, 0, "", empty lists and objects) as Google's JSON mapping does. */
export function proto3(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(proto3);
  if (value && typeof value === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      const p = proto3(v);
      if (p === false || p === 0 || p === '' || p === undefined || p === null) continue;
      if (Array.isArray(p) && p.length === 0) continue;
      if (typeof p === 'object' && !Array.isArray(p) && Object.keys(p as Json).length === 0) continue;
      out[k] = p;
    }
    return out;
  }
  return value;
}

/** Enum and oneof fields keep their value even when it is a default (proto3 tracks their presence). */
const KEEP_PRESENCE = (rule: PolicyRule): Json => {
  const out = proto3(rule) as Json;
  for (const k of ['allowAll', 'denyAll', 'enforce'] as const) if (rule[k] !== undefined) out[k] = rule[k];
  return out;
};

const error = (code: number, status: string, message: string, details: Json[] = []): [number, Json] =>
  [code, { error: { code, message, status, ...(details.length > 0 ? { details } : {}) } }];

function serviceDisabled(model: ProjectModel, service: Service): [number, Json] {
  const url = `https://console.developers.google.com/apis/api/${service}/overview?project=${model.number}`;
  const [status, body] = error(403, 'PERMISSION_DENIED',
    `${TITLES[service]} has not been used in project ${model.number} before or it is disabled. Enable it by visiting ${url} then retry. ` +
    'If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.', [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED', domain: 'googleapis.com',
        metadata: { service, consumer: `projects/${model.number}`, serviceTitle: TITLES[service], containerInfo: model.number, activationUrl: url },
      },
      { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Google developers console API activation', url }] },
    ]);
  // Compute Engine's v1 errors also carry the older errors[] list.
  if (service === 'compute.googleapis.com') body.error.errors = [{ message: body.error.message, domain: 'usageLimits', reason: 'accessNotConfigured', extendedHelp: url }];
  return [status, body];
}

/** A project that takes the lab: the model each test starts from and changes. */
export function healthyProject(projectId: string, image: string, permissions: readonly string[]): ProjectModel {
  return {
    projectId,
    number: '123456789012',
    state: 'ACTIVE',
    billingAccount: 'billingAccounts/012345-6789AB-CDEF01',
    disabled: new Set(),
    images: {
      'us-central1': [
        { id: 'composer-3-airflow-2.9.3-build.40', creationDisabled: true, pastRelease: true, released: '2025-03-01' },
        { id: `${image}-build.3`, creationDisabled: true, pastRelease: true, released: '2025-06-01' },
        { id: 'composer-3-airflow-3.3.1-build.10', released: '2026-11-20' },
        { id: `${image}-build.12`, released: '2026-11-02' },
        { id: 'composer-2.16.1-airflow-2.10.5', released: '2026-11-02' },
      ],
    },
    regionQuotas: {
      'us-central1': [
        { metric: 'CPUS', limit: 24 }, { metric: 'DISKS_TOTAL_GB', limit: 4096, usage: 100 }, { metric: 'SSD_TOTAL_GB', limit: 500 },
        { metric: 'N2_CPUS', limit: 24 }, { metric: 'IN_USE_ADDRESSES', limit: 8 },
      ],
    },
    globalQuotas: [
      { metric: 'CPUS_ALL_REGIONS', limit: 32 }, { metric: 'NETWORKS', limit: 15, usage: 1 },
      { metric: 'SUBNETWORKS', limit: 175, usage: 1 }, { metric: 'FIREWALLS', limit: 200, usage: 4 },
    ],
    held: new Set(permissions),
    retired: new Set(),
    policies: {},
    delayMs: 0,
    tokenDelayMs: 0,
    // Fewer than preflight asks for, so that its paging is exercised.
    pageLimit: 2,
  };
}


export class GoogleApisServer {
  readonly requests: Recorded[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly valid = loadPermissionNames();
  base = '';

  constructor(readonly model: ProjectModel) {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const isToken = req.url === '/token';
        const delay = isToken ? this.model.tokenDelayMs : this.model.delayMs;
        if (delay === 'never') return; // the connection stays open, unanswered
        const reply = () => {
          const [status, json] = isToken ? this.token(req.method!) : this.answer(req.method!, new URL(req.url!, 'http://local'), body);
          res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify(json));
        };
        if (delay === 0) reply();
        else {
          const t = setTimeout(() => { this.timers.delete(t); if (!res.destroyed) reply(); }, delay);
          this.timers.add(t);
        }
      });
    });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Google's OAuth 2.0 token endpoint refreshing a user's credentials. */
  private token(method: string): [number, Json] {
    if (method !== 'POST') return [405, { error: 'invalid_request' }];
    if (this.model.tokenRevoked) return [400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }];
    return [200, { access_token: TOKEN, expires_in: 3599, token_type: 'Bearer', scope: 'https://www.googleapis.com/auth/cloud-platform' }];
  }

  private answer(method: string, url: URL, body: string): [number, Json] {
    const m = this.model;
    const p = url.pathname;
    const project = (id: string) => id === m.projectId || id === m.number;
    const off = (s: Service) => m.disabled.has(s);
    let r: RegExpExecArray | null;

    if ((r = /^\/v3\/projects\/([^/:]+)$/.exec(p)) && method === 'GET') {
      if (off('cloudresourcemanager.googleapis.com')) return serviceDisabled(m, 'cloudresourcemanager.googleapis.com');
      if (!project(r[1])) return this.projectHidden(r[1]);
      return [200, proto3({ name: `projects/${m.number}`, projectId: m.projectId, state: m.state, displayName: 'Demo', parent: 'organizations/42' }) as Json];
    }
    if ((r = /^\/v3\/projects\/([^/:]+):testIamPermissions$/.exec(p)) && method === 'POST') {
      if (off('cloudresourcemanager.googleapis.com')) return serviceDisabled(m, 'cloudresourcemanager.googleapis.com');
      if (!project(r[1])) return this.projectHidden(r[1]);
      return this.testIamPermissions(body);
    }
    if ((r = /^\/v1\/projects\/([^/]+)\/billingInfo$/.exec(p)) && method === 'GET') {
      if (off('cloudbilling.googleapis.com')) return serviceDisabled(m, 'cloudbilling.googleapis.com');
      return [200, proto3({
        name: `projects/${m.projectId}/billingInfo`, projectId: m.projectId,
        billingAccountName: m.billingAccount ?? '', billingEnabled: m.billingAccount !== undefined,
      }) as Json];
    }
    if ((r = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/imageVersions$/.exec(p)) && method === 'GET') {
      if (off('composer.googleapis.com')) return serviceDisabled(m, 'composer.googleapis.com');
      return this.imageVersions(r[2], url.searchParams);
    }
    if ((r = /^\/compute\/v1\/projects\/([^/]+)\/regions\/([^/]+)$/.exec(p)) && method === 'GET') {
      if (off('compute.googleapis.com')) return serviceDisabled(m, 'compute.googleapis.com');
      const quotas = m.regionQuotas[r[2]];
      if (quotas === undefined) return error(404, 'NOT_FOUND', `The resource 'projects/${m.projectId}/regions/${r[2]}' was not found`);
      return [200, {
        kind: 'compute#region', name: r[2], status: 'UP',
        ...(m.quotaWarning ? { quotaStatusWarning: { ...m.quotaWarning, data: [{ key: 'scope', value: `regions/${r[2]}` }] } } : { quotas }),
      }];
    }
    if ((r = /^\/compute\/v1\/projects\/([^/]+)$/.exec(p)) && method === 'GET') {
      if (off('compute.googleapis.com')) return serviceDisabled(m, 'compute.googleapis.com');
      return [200, { kind: 'compute#project', name: m.projectId, quotas: m.globalQuotas }];
    }
    if ((r = /^\/v2\/projects\/([^/]+)\/policies\/([^/:]+):getEffectivePolicy$/.exec(p)) && method === 'GET') {
      if (off('orgpolicy.googleapis.com')) return serviceDisabled(m, 'orgpolicy.googleapis.com');
      if (!project(r[1])) return this.projectHidden(r[1]);
      const rules = m.policies[r[2]];
      // Answered with the project number whatever named the project in the request.
      return [200, { name: `projects/${m.number}/policies/${r[2]}`, ...(rules ? { spec: { etag: 'CO3', rules: rules.map(KEEP_PRESENCE) } } : {}) }];
    }
    return error(404, 'NOT_FOUND', `The requested URL ${p} was not found on this server.`);
  }

  private projectHidden(id: string): [number, Json] {
    return error(403, 'PERMISSION_DENIED',
      `Permission 'resourcemanager.projects.get' denied on resource '//cloudresourcemanager.googleapis.com/projects/${id}' (or it may not exist).`);
  }

  private testIamPermissions(body: string): [number, Json] {
    const asked: unknown = JSON.parse(body || '{}').permissions;
    if (!Array.isArray(asked)) return error(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    if (asked.length > 100) return error(400, 'INVALID_ARGUMENT', 'Request contains more than 100 permissions.');
    for (const name of asked as string[]) {
      const service = String(name).split('.')[0];
      if (!this.valid.services.has(service)) {
        // Outside what the file covers the server cannot judge: say so rather than pass it.
        return error(500, 'INTERNAL', `test server: ${name} is of a service ${PERMISSIONS_FILE} does not cover`);
      }
      if (!this.valid.names.has(name) || this.model.retired.has(name)) {
        return error(400, 'INVALID_ARGUMENT', `Permission ${name} is not valid for this resource.`);
      }
    }
    return [200, proto3({ permissions: (asked as string[]).filter((n) => this.model.held.has(n)) }) as Json];
  }

  private imageVersions(region: string, q: URLSearchParams): [number, Json] {
    const past = q.get('includePastReleases') === 'true';
    const all = (this.model.images[region] ?? []).filter((v) => past || !v.pastRelease);
    const size = Math.min(this.model.pageLimit, Number(q.get('pageSize') || this.model.pageLimit));
    const start = q.get('pageToken') ? Number(Buffer.from(q.get('pageToken')!, 'base64url').toString()) : 0;
    if (!Number.isInteger(start) || start < 0 || start > all.length) return error(400, 'INVALID_ARGUMENT', 'Invalid page token.');
    const page = all.slice(start, start + size).map((v) => {
      const [year, month, day] = v.released.split('-').map(Number);
      return {
        imageVersionId: v.id, creationDisabled: v.creationDisabled ?? false,
        supportedPythonVersions: ['3.11'], releaseDate: { year, month, day },
      };
    });
    const next = start + size < all.length ? Buffer.from(String(start + size)).toString('base64url') : '';
    return [200, proto3({ imageVersions: page, nextPageToken: next }) as Json];
  }
}
