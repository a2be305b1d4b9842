import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { packageEntries, writePackageArchive, zipEntries } from '../lib/archive';
import { REPO_ROOT } from '../lib/assets';

const PACKAGE = path.join(REPO_ROOT, 'pyspark', 's8s_churn');

/** A copy of the package folder whose files all carry the given modification time. */
function checkout(mtime: Date): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 's8s-archive-')), 's8s_churn');
  fs.cpSync(PACKAGE, dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, f), mtime, mtime);
  fs.utimesSync(dir, mtime, mtime);
  return dir;
}

describe('the jobs package archive', () => {
  test('two checkouts whose file times differ give the same bytes', () => {
    const a = checkout(new Date('2021-03-04T05:06:07Z'));
    const b = checkout(new Date('2026-12-05T04:00:00Z'));
    expect(fs.statSync(path.join(a, 'job.py')).mtimeMs).not.toEqual(fs.statSync(path.join(b, 'job.py')).mtimeMs);
    const first = fs.readFileSync(writePackageArchive(a, path.join(path.dirname(a), 'out')));
    const second = fs.readFileSync(writePackageArchive(b, path.join(path.dirname(b), 'out')));
    expect(second.equals(first)).toBe(true);
    expect(zipEntries(packageEntries(PACKAGE)).equals(first)).toBe(true); // the repository's own files too
  });

  test('entries are sorted, dated 1980-01-01 00:00, and hold every module and JSON file of the package, nothing else', () => {
    const bytes = zipEntries(packageEntries(PACKAGE));
    // Read back through the central directory, as zipimport does.
    const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    let at = bytes.readUInt32LE(end + 16);
    const names: string[] = [];
    for (let i = 0; i < bytes.readUInt16LE(end + 10); i++) {
      expect(bytes.readUInt32LE(at)).toBe(0x02014b50);
      expect([bytes.readUInt16LE(at + 12), bytes.readUInt16LE(at + 14)]).toEqual([0, 0x21]);
      const nameLength = bytes.readUInt16LE(at + 28);
      names.push(bytes.subarray(at + 46, at + 46 + nameLength).toString('utf8'));
      at += 46 + nameLength + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    }
    expect(names).toEqual([...names].sort());
    const expected = fs
      .readdirSync(PACKAGE)
      .filter((f) => /\.(py|json)$/.test(f))
      .map((f) => `s8s_churn/${f}`)
      .sort();
    expect(names).toEqual(expected);
    expect(names).toEqual(expect.arrayContaining(['s8s_churn/__init__.py', 's8s_churn/table_schemas.json']));
    // The local lab's code is never shipped.
    expect(names.filter((n) => /sample_data|local\//.test(n))).toEqual([]);
  });

  test("Python's zipfile reads the archive back, each entry with its file's bytes", () => {
    const file = writePackageArchive(PACKAGE, fs.mkdtempSync(path.join(os.tmpdir(), 's8s-archive-')));
    const script = [
      'import json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'assert z.testzip() is None',
      'print(json.dumps({i.filename: [i.date_time[0], i.compress_type, len(z.read(i))] for i in z.infolist()}))',
    ].join('\n');
    const read = JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
    for (const e of packageEntries(PACKAGE)) expect(read[e.name]).toEqual([1980, 0, e.data.length]);
  });
});
