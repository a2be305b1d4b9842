/**
 * The README stays a five-minute read (issue 26): short prose, short table cells, the quick start on
 * the first screen, links that resolve, npm commands that exist. The repository map is checked by
 * layout.test.ts; the depth lives in docs/, whose tables other suites check (policy.test.ts, config.test.ts).
 */
import * as fs from 'fs';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..');
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf-8');
const DOCS = fs.readdirSync(path.join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
const PACKAGE = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf-8'));

const MAX_PROSE_WORDS = 1200;
const MAX_CELL_CHARS = 300;
const QUICK_START_BY_LINE = 40;

/** The text without fenced code blocks and HTML comments; code is read, not counted. */
function withoutCode(md: string): string {
  return md.replace(/^```[^\n]*\n[\s\S]*?^```[ \t]*$/gm, '').replace(/<!--[\s\S]*?-->/g, '');
}

/** Words a reader reads as prose: outside code blocks, comments and tables. */
export function proseWords(md: string): number {
  const prose = withoutCode(md).split('\n').filter((l) => !l.trimStart().startsWith('|')).join(' ');
  return prose.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
}

/** Every cell of every table row, split on unescaped pipes. */
export function tableCells(md: string): string[] {
  return withoutCode(md)
    .split('\n')
    .filter((l) => l.trimStart().startsWith('|'))
    .flatMap((l) => l.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/))
    .map((c) => c.trim());
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function anchorsOf(md: string): Set<string> {
  return new Set([...withoutCode(md).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

/** Links that point into the repository (not to the web), with the line they are on. */
export function localLinks(md: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  withoutCode(md).split('\n').forEach((text, i) => {
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z]+:/i.test(m[1])) out.push({ target: m[1], line: i + 1 });
    }
  });
  return out;
}

/** Why a local link from `from` (a repo-relative file) does not resolve, or null when it does. */
export function brokenLink(from: string, target: string): string | null {
  const [file, anchor] = target.split('#');
  const resolved = file ? path.join(path.dirname(from), file) : from;
  const full = path.join(REPO, resolved);
  if (!fs.existsSync(full)) return `${resolved} does not exist`;
  if (anchor !== undefined && !anchorsOf(fs.readFileSync(full, 'utf-8')).has(anchor)) {
    return `${resolved} has no heading with anchor #${anchor}`;
  }
  return null;
}

/** Every `npm run X` named in a text. */
export function npmRunScripts(md: string): string[] {
  return [...new Set([...md.matchAll(/npm run ([A-Za-z0-9:_-]+)/g)].map((m) => m[1]))];
}

function section(md: string, heading: RegExp): string {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => /^## /.test(l) && heading.test(l));
  if (start < 0) throw new Error(`no section matching ${heading}`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

describe('the checks themselves catch what they are for', () => {
  test('prose words skip code blocks, tables and comments', () => {
    expect(proseWords('one two\n```bash\nthree four\n```\n| five | six |\n<!-- seven -->\neight — nine')).toBe(4);
  });

  test('a long cell is found, an escaped pipe does not split a cell', () => {
    expect(tableCells('| a | b \\| c |\n| --- | --- |')).toEqual(['a', 'b \\| c', '---', '---']);
  });

  test('anchors follow GitHub: "4. Watch the run (seed 7.4)" is #4-watch-the-run-seed-74', () => {
    expect(slug('4. Watch the run (seed 7.4)')).toBe('4-watch-the-run-seed-74');
    expect(slug('The DAGs (`airflow/dags/`): inside')).toBe('the-dags-airflowdags-inside');
  });

  test('a missing file and a missing anchor are both broken links', () => {
    expect(brokenLink('README.md', 'docs/no-such-page.md')).toMatch(/does not exist/);
    expect(brokenLink('README.md', 'docs/iam.md#no-such-heading')).toMatch(/no heading with anchor/);
    expect(brokenLink('README.md', 'docs/iam.md')).toBeNull();
  });
});

describe('the README is a five-minute read', () => {
  test(`at most ${MAX_PROSE_WORDS} words outside code blocks and tables`, () => {
    expect(proseWords(README)).toBeLessThanOrEqual(MAX_PROSE_WORDS);
  });

  test(`no table cell over ${MAX_CELL_CHARS} characters`, () => {
    const long = tableCells(README).filter((c) => c.length > MAX_CELL_CHARS).map((c) => `${c.length}: ${c.slice(0, 80)}…`);
    expect(long).toEqual([]);
  });

  test(`the quick start (npm ci, npm run local, npm test) is within the first ${QUICK_START_BY_LINE} lines`, () => {
    const lines = README.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l)) + 1;
    const heading = at(/^## Quick start/);
    expect(heading).toBeGreaterThan(0);
    for (const command of [/^npm ci\b/, /^npm run local\b/, /^npm test\b/]) {
      const line = lines.findIndex((l, i) => i > heading && command.test(l)) + 1;
      expect(line).toBeGreaterThan(heading);
      expect(line).toBeLessThanOrEqual(QUICK_START_BY_LINE);
    }
  });

  test('the sections come in the order a newcomer needs them', () => {
    const order = [/^## Quick start/, /^## Prerequisites/, /^## Deploy, trigger, verify, destroy/, /^## What it costs/,
      /^## Troubleshooting/, /^## Repository map/, /^## More in docs/];
    const lines = README.split('\n');
    const positions = order.map((re) => lines.findIndex((l) => re.test(l)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  test('it says CDKTF is archived, that the pinned 0.21.0 is its last release, and the exit', () => {
    expect(README).toMatch(/CDK for Terraform is archived/);
    expect(README).toContain('`npx cdktf synth --hcl`');
    expect(PACKAGE.dependencies.cdktf).toBe('0.21.0');
    expect(PACKAGE.devDependencies['cdktf-cli']).toBe('0.21.0');
    expect(README).toContain('0.21.0');
  });

  test('it keeps five troubleshooting rows, each also in docs/troubleshooting.md', () => {
    const rows = tableCells(section(README, /Troubleshooting/)).filter((_, i) => i % 2 === 0).slice(2);
    expect(rows).toHaveLength(5);
    const all = fs.readFileSync(path.join(REPO, 'docs/troubleshooting.md'), 'utf-8');
    const symptoms = new Set(tableCells(all).filter((_, i) => i % 2 === 0));
    for (const symptom of rows) expect([...symptoms].map((s) => s.toLowerCase())).toContain(symptom.toLowerCase());
  });
});

describe('links and commands resolve', () => {
  test('every link into docs/ from the README resolves, anchors included', () => {
    const links = localLinks(README);
    expect(links.filter((l) => l.target.startsWith('docs/')).length).toBeGreaterThanOrEqual(DOCS.length - 1);
    const broken = links.map((l) => [l.line, l.target, brokenLink('README.md', l.target)]).filter(([, , why]) => why);
    expect(broken).toEqual([]);
  });

  test('every docs/ page is linked from the README', () => {
    const linked = new Set(localLinks(README).map((l) => l.target.split('#')[0]));
    expect(DOCS.filter((d) => !linked.has(d))).toEqual([]);
  });

  test('every local link inside docs/ resolves too', () => {
    const broken = DOCS.flatMap((doc) => localLinks(fs.readFileSync(path.join(REPO, doc), 'utf-8'))
      .map((l) => [doc, l.line, l.target, brokenLink(doc, l.target)]).filter(([, , , why]) => why));
    expect(broken).toEqual([]);
  });

  test('every `npm run X` the README and docs/ name exists in package.json', () => {
    const named = [README, ...DOCS.map((d) => fs.readFileSync(path.join(REPO, d), 'utf-8'))].flatMap(npmRunScripts);
    expect(npmRunScripts(README)).toEqual(expect.arrayContaining(['local', 'preflight', 'synth']));
    expect([...new Set(named)].filter((s) => !(s in PACKAGE.scripts))).toEqual([]);
  });
});
