import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/**
 * The jobs' package as one zip archive, built at synth, whose bytes depend only on the files' names
 * and contents: entries sorted by name, every timestamp 1980-01-01 00:00 (the earliest a zip entry
 * can hold), fixed permissions, stored without compression (a deflater's output may change with the
 * zlib version). So two checkouts of the same commit, whatever their file times, give the same
 * archive, the same asset hash, and a deploy uploads it again only when the code changed.
 *
 * Dataproc Serverless puts each `python_file_uris` entry on the Python path (.py, .egg or .zip:
 * https://cloud.google.com/dataproc-serverless/docs/reference/rest/v1/projects.locations.batches#PySparkBatch),
 * so `import s8s_churn` finds the package inside the archive (zipimport) and importlib.resources
 * reads its JSON files from there.
 */

/** The package folder's files that go into the archive: Python modules and JSON data. */
export const ARCHIVED_EXTENSIONS: readonly string[] = ['.py', '.json'];

export interface ArchiveEntry {
  /** The path inside the archive, with '/' separators. */
  readonly name: string;
  readonly data: Buffer;
}

/**
 * The entries for a package folder: every file under it with an archived extension (no caches),
 * named `<package>/<relative path>` and sorted by that name.
 */
export function packageEntries(packageDir: string): ArchiveEntry[] {
  const pkg = path.basename(packageDir);
  const out: ArchiveEntry[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== '__pycache__') walk(path.join(dir, e.name), `${prefix}${e.name}/`);
      if (e.isFile() && ARCHIVED_EXTENSIONS.some((ext) => e.name.endsWith(ext))) {
        out.push({ name: `${prefix}${e.name}`, data: fs.readFileSync(path.join(dir, e.name)) });
      }
    }
  };
  walk(packageDir, `${pkg}/`);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// DOS date and time of 1980-01-01 00:00: date = (year-1980)<<9 | month<<5 | day, time = 0.
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;
// Version made by: Unix (3) with zip spec 2.0; external attributes: a regular file, rw-r--r--.
const MADE_BY = (3 << 8) | 20;
const UNIX_FILE_MODE = (0o100644 << 16) >>> 0;

/** A stored (uncompressed) zip of the entries, in the order given (APPNOTE.TXT 6.3, sections 4.3.7 to 4.3.16). */
export function zipEntries(entries: readonly ArchiveEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed to extract
    local.writeUInt16LE(0x0800, 6); // flags: names are UTF-8
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // no extra field (no extended timestamps)
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(MADE_BY, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(UNIX_FILE_MODE, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, e.data);
    centrals.push(central, name);
    offset += local.length + name.length + e.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * Writes the package folder's archive to `<outDir>/<sha256 of its bytes>/<package>.zip` (once; a
 * rename makes the write atomic when several syntheses run at the same time) and returns its path.
 */
export function writePackageArchive(packageDir: string, outDir: string): string {
  const bytes = zipEntries(packageEntries(packageDir));
  const digest = crypto.createHash('sha256').update(bytes).digest('hex');
  const file = path.join(outDir, digest, `${path.basename(packageDir)}.zip`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    fs.writeFileSync(partial, bytes);
    fs.renameSync(partial, file);
  }
  return file;
}
