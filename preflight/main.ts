/**
 * `npm run preflight`: whether the configured project will take the lab, before a 30-minute
 * deploy. Reads the same settings as synth (lib/config.ts), with the caller's own Application
 * Default Credentials; changes nothing. Prints one row per check and exits 1 if a deploy would
 * fail, 2 if some check could not be read, 0 when all pass. docs/preflight.md has the details.
 */
import { GoogleAuth } from 'google-auth-library';
import { ConfigError, LabConfig, loadConfig } from '../lib/config';
import { describeTarget, exitCode, Row, runChecks } from './checks';
import { endpointsFrom, GoogleApis, HeaderSource, OAUTH2_TOKEN_URL_ENV } from './google';

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
 * ADC, with the token endpoint overridable like every other URL (the tests answer it locally).
 * Token requests go through Node's own fetch, as the API calls do (gaxios would otherwise import
 * node-fetch, an ES module, on first use).
 */
async function credentials(env: Env, projectId: string): Promise<HeaderSource> {
  const tokenUrl = env[OAUTH2_TOKEN_URL_ENV];
  const auth = new GoogleAuth({
    // Given, so that the library does not look for a project of its own (gcloud, metadata server).
    projectId,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    clientOptions: {
      transporterOptions: { fetchImplementation: fetch },
      ...(tokenUrl ? { endpoints: { oauth2TokenUrl: tokenUrl } } : {}),
    },
  });
  return auth.getClient();
}

export async function main(env: Env, print: (s: string) => void = console.log): Promise<number> {
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
  try {
    auth = await credentials(env, config.projectId);
    // One token up front, so that a credentials problem is one message, not a row per check.
    await auth.getRequestHeaders();
  } catch (e) {
    print(`No usable Application Default Credentials (${(e as Error).message.split('\n')[0]}).\n` +
      '  Run: gcloud auth application-default login\n' +
      '  or set GOOGLE_APPLICATION_CREDENTIALS to a credentials file.');
    return 1;
  }
  print(`preflight: ${describeTarget(config)}\n`);
  const rows = await runChecks({ config, api: new GoogleApis(endpointsFrom(env), auth) });
  print(formatTable(rows));
  const code = exitCode(rows);
  print(code === 0 ? '\nAll checks passed: npx cdktf deploy'
    : code === 1 ? '\nA deploy would fail: fix the FAIL rows first (README Troubleshooting, docs/preflight.md).'
      : '\nNothing failed, but some checks could not be read: see the unknown rows.');
  return code;
}

if (require.main === module) {
  main(process.env).then((code) => process.exit(code), (e) => {
    console.error(`preflight: unexpected error: ${(e as Error).stack ?? e}`);
    process.exit(1);
  });
}
