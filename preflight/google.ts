/**
 * The few Google Cloud REST calls preflight makes, with every base URL overridable so that the
 * tests answer them from a local server. Read-only: GET, and POSTs that only read
 * (testIamPermissions). Every call is bounded in time (preflight/budget.ts).
 */
import { Budget } from './budget';

/** The APIs preflight calls, their public base URLs and the variable that overrides each. */
export const ENDPOINTS = {
  resourcemanager: { url: 'https://cloudresourcemanager.googleapis.com', env: 'S8S_PREFLIGHT_RESOURCEMANAGER_URL', service: 'cloudresourcemanager.googleapis.com' },
  cloudbilling: { url: 'https://cloudbilling.googleapis.com', env: 'S8S_PREFLIGHT_CLOUDBILLING_URL', service: 'cloudbilling.googleapis.com' },
  composer: { url: 'https://composer.googleapis.com', env: 'S8S_PREFLIGHT_COMPOSER_URL', service: 'composer.googleapis.com' },
  compute: { url: 'https://compute.googleapis.com', env: 'S8S_PREFLIGHT_COMPUTE_URL', service: 'compute.googleapis.com' },
  orgpolicy: { url: 'https://orgpolicy.googleapis.com', env: 'S8S_PREFLIGHT_ORGPOLICY_URL', service: 'orgpolicy.googleapis.com' },
} as const;

/** The APIs preflight reads: what an empty project must enable before preflight can read it. */
export const PREFLIGHT_APIS: readonly string[] = Object.values(ENDPOINTS).map((e) => e.service);

/** Where Google refreshes user credentials (google-auth-library's default). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export type Api = keyof typeof ENDPOINTS;

/** Where ADC's user credentials are refreshed; overridable for the same reason. */
export const OAUTH2_TOKEN_URL_ENV = 'S8S_PREFLIGHT_OAUTH2_TOKEN_URL';

export function endpointsFrom(env: Readonly<Record<string, string | undefined>>): Record<Api, string> {
  const out = {} as Record<Api, string>;
  for (const [api, { url, env: name }] of Object.entries(ENDPOINTS)) out[api as Api] = (env[name] || url).replace(/\/+$/, '');
  return out;
}

/** What google-auth-library's clients offer: the Authorization (and x-goog-user-project) headers. */
export interface HeaderSource {
  getRequestHeaders(url?: string): Promise<Headers | Record<string, string>>;
}

/**
 * A Google API error, from the documented JSON error body
 * (https://cloud.google.com/apis/design/errors): `error.code`, `error.status`, `error.message`,
 * and a google.rpc.ErrorInfo in `error.details` whose reason SERVICE_DISABLED names the API and
 * the project it must be enabled in.
 */
export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    message: string,
    readonly reason?: string,
    readonly service?: string,
    readonly consumer?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get serviceDisabled(): boolean {
    return this.reason === 'SERVICE_DISABLED' || this.reason === 'accessNotConfigured';
  }

  /** "gcloud services enable ..." for a SERVICE_DISABLED error. */
  get enableCommand(): string | undefined {
    if (!this.serviceDisabled || !this.service) return undefined;
    const project = this.consumer?.replace(/^projects\//, '');
    return `gcloud services enable ${this.service}${project ? ` --project ${project}` : ''}`;
  }
}

async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text();
  let body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    body = JSON.parse(text);
  } catch {
    return new ApiError(res.status, '', `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  const e = body?.error ?? {};
  const info = (e.details ?? []).find((d: { '@type'?: string }) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');
  // Compute Engine's v1 errors also carry the older `errors[].reason` (accessNotConfigured).
  const legacy = (e.errors ?? [])[0]?.reason as string | undefined;
  return new ApiError(
    res.status, e.status ?? '', e.message ?? `HTTP ${res.status}`,
    info?.reason ?? legacy, info?.metadata?.service, info?.metadata?.consumer,
  );
}

export class GoogleApis {
  constructor(
    private readonly endpoints: Record<Api, string>,
    private readonly auth: HeaderSource,
    /** Shared by every call of one run (preflight/budget.ts). */
    private readonly budget: Budget = new Budget(),
  ) {}

  get<T>(api: Api, path: string): Promise<T> {
    return this.call<T>(api, path, 'GET');
  }

  post<T>(api: Api, path: string, body: unknown): Promise<T> {
    return this.call<T>(api, path, 'POST', body);
  }

  /**
   * One request, bounded by what is left of the budget. A request that runs out of time rejects
   * with NoAnswer naming the method and URL (without its query) and how long it waited.
   */
  private call<T>(api: Api, path: string, method: string, body?: unknown): Promise<T> {
    const url = `${this.endpoints[api]}${path}`;
    return this.budget.within(`${method} ${url.split('?')[0]}`, async (signal) => {
      const headers = new Headers(await this.auth.getRequestHeaders(url));
      if (body !== undefined) headers.set('content-type', 'application/json');
      const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
      if (!res.ok) throw await errorFrom(res);
      return (await res.json()) as T;
    });
  }
}
