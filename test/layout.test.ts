import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..');

/** The README's repository map: its folders, and the files it names for the root. */
function readmeMap(): { folders: string[]; rootFiles: string[] } {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.split('## Repository map')[1].split('\n## ')[0];
  const rows = [...section.matchAll(/^\| `([^`]+)` \| (.*) \|$/gm)];
  const root = rows.find(([, folder]) => folder === '/');
  return {
    folders: rows.map(([, folder]) => folder).filter((f) => f !== '/'),
    rootFiles: root ? [...root[2].matchAll(/`([^`]+)`/g)].map((m) => m[1]) : [],
  };
}

describe("the README's repository map", () => {
  const { folders, rootFiles } = readmeMap();
  const tracked = execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);

  test('every tracked file sits in a mapped folder (or is a root file the map names)', () => {
    const outside = tracked.filter((f) => (f.includes('/') ? !folders.includes(`${f.split('/')[0]}/`) : !rootFiles.includes(f)));
    expect(outside).toEqual([]);
  });

  test('every mapped folder holds tracked files, one line each', () => {
    expect(folders.length).toBe(new Set(folders).size);
    for (const folder of folders) expect(tracked.some((f) => f.startsWith(folder))).toBe(true);
    expect(rootFiles).toEqual(expect.arrayContaining(['main.ts', 'package.json', 'package-lock.json']));
  });
});
