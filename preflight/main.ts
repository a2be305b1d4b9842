/**
 * `npm run preflight`: whether the configured project will take the lab, before a 30-minute
 * deploy. Reads the same settings as synth (lib/config.ts), with the caller's own Application
 * Default Credentials; changes nothing. Prints one row per check and exits 1 if a deploy would
 * fail, 2 if some check could not be read, 0 when all pass; within 60 s whatever the network does
 * (preflight/budget.ts). docs/preflight.md has the details.
 */
import { GoogleAuth } from 'google-auth-library';
import { ConfigError, LabConfig, loadConfig } from '../lib/config';
import { Budget, LIMITS, NoAnswer, seconds } from './budget';
import { describeTarget, exitCode, Row, runChecks } from './checks';
import { endpointsFrom, GOOGLE_TOKEN_URL, GoogleApis, HeaderSource, OAUTH2_TOKEN_URL_ENV, PREFLIGHT_APIS } from './google';

type Env = Readonly<Record<string, string | undefined>>;

const STATUS = { ok: 'ok', fail: 'FAIL', unknown: 'unknown' } as const;

/** The rows as a plain-text table: check, status, what it found, what to do. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['check', 'status', 'found', 'what to do'];
  const cells = rows.map((r) => [r.check, STATUS[r.status], r.found, r.action || '-']);
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => [0, 1, 2].map((i) => c[i].padEnd(widths[i])).join(' | ') + ' | ' + c[3];
  return [line(header), line(widths.map((w) => '-'.repeat(w)).concat('-')), ...cells.map(line)].join('\n');
}

/**
 * ADC, with the token endpoint overridable like every other URL (the tests answer it locally),
 * and one token fetched up front so that a credentials problem is one message, not a row per
 * check. Token requests go through Node's own fetch, as the API calls do (gaxios would otherwise
 * import node-fetch, an ES module, on first use), bounded by `signal`: google-auth-library would
 * otherwise wait on a silent token endpoint for minutes, and retry.
 */
async function credentials(env: Env, projectId: string, signal: AbortSignal, asked: string[]): Promise<HeaderSource> {
  const tokenUrl = env[OAUTH2_TOKEN_URL_ENV];
  const bounded: typeof fetch = (input, init) => {
    asked.push(String(input instanceof Request ? input.url : input).split('?')[0]);
    return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
  };
  const auth = new GoogleAuth({
    // Given, so that the library does not look for a project of its own (gcloud, metadata server).
    projectId,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    clientOptions: {
      transporterOptions: { fetchImplementation: bounded },
      ...(tokenUrl ? { endpoints: { oauth2TokenUrl: tokenUrl } } : {}),
    },
  });
  const client = await auth.getClient();
  await client.getRequestHeaders();
  return client;
}

/** A credentials failure with no answer from Google's side (as opposed to an answer refusing them). */
function isSilence(e: unknown): boolean {
  if (e instanceof NoAnswer) return true;
  const err = e as { response?: unknown; name?: string; cause?: { name?: string } };
  return err.response === undefined && ['AbortError', 'TimeoutError', 'NoAnswer'].includes(err.cause?.name ?? err.name ?? '');
}

/** One command enabling the APIs preflight reads that Google said are off, then the rerun. */
export function enableHint(rows: readonly Row[]): string | undefined {
  const byConsumer = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!r.disabledApi || !PREFLIGHT_APIS.includes(r.disabledApi.service)) continue;
    const consumer = (r.disabledApi.consumer ?? '').replace(/^projects\//, '');
    byConsumer.set(consumer, (byConsumer.get(consumer) ?? new Set()).add(r.disabledApi.service));
  }
  if (byConsumer.size === 0) return undefined;
  const commands = [...byConsumer].map(([project, apis]) => `  gcloud services enable ${[...apis].sort().join(' ')}${project ? ` --project ${project}` : ''}`);
  return ['',
    'Some APIs preflight reads are not enabled yet (a new project starts with them off; deploy enables the lab\'s own).',
    'Preflight changes nothing itself. To let it read them, enable them, then run it again:',
    ...commands,
    '  npm run preflight'].join('\n');
}

export async function main(env: Env, print: (s: string) => void = console.log, budget: Budget = new Budget()): Promise<number> {
  let config: LabConfig;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      print(e.message);
      return 1;
    }
    throw e;
  }
  if (config.projectIsPlaceholder) {
    print('GOOGLE_CLOUD_PROJECT is not set: preflight needs the project you will deploy into.\n' +
      '  export GOOGLE_CLOUD_PROJECT=my-lab-project');
    return 1;
  }
  let auth: HeaderSource;
  const asked: string[] = [];
  const tokenUrl = () => asked[asked.length - 1] ?? env[OAUTH2_TOKEN_URL_ENV] ?? GOOGLE_TOKEN_URL;
  try {
    auth = await budget.within('the token endpoint', (signal) => credentials(env, config.projectId, signal, asked), LIMITS.tokenMs);
  } catch (e) {
    if (isSilence(e)) {
      const waited = e instanceof NoAnswer ? e.waitedMs : LIMITS.tokenMs;
      print(`No answer from the token endpoint ${tokenUrl()} within ${seconds(waited)}: your credentials could not be refreshed, so nothing was checked.\n` +
        '  Check the network (a proxy or firewall in the way?), then run preflight again.');
      return 2;
    }
    print(`No usable Application Default Credentials (${(e as Error).message.split('\n')[0]}).\n` +
      '  Run: gcloud auth application-default login\n' +
      '  or set GOOGLE_APPLICATION_CREDENTIALS to a credentials file.');
    return 1;
  }
  print(`preflight: ${describeTarget(config)}\n`);
  const rows = await runChecks({ config, api: new GoogleApis(endpointsFrom(env), auth, budget) });
  print(formatTable(rows));
  const hint = enableHint(rows);
  if (hint) print(hint);
  const code = exitCode(rows);
  print(code === 0 ? '\nAll checks passed: npx cdktf deploy'
    : code === 1 ? '\nA deploy would fail: fix the FAIL rows first (docs/troubleshooting.md, docs/preflight.md).'
      : '\nNothing failed, but some checks could not be read: see the unknown rows.');
  return code;
}

if (require.main === module) {
  main(process.env).then((code) => process.exit(code), (e) => {
    console.error(`preflight: unexpected error: ${(e as Error).stack ?? e}`);
    process.exit(1);
  });
}
