import * as fs from 'fs';
import * as path from 'path';
import { Construct } from 'constructs';
import { AssetType, TerraformAsset } from 'cdktf';
import { StorageBucketObject } from '@cdktf/provider-google/lib/storage-bucket-object';
import { writePackageArchive } from './archive';
import { BucketPurpose } from './names';
import { LabBucket } from './storage';

/** The repository's top folder (lib/..). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/**
 * One upload rule: every file in `folder` (relative to the repository) whose name ends with one
 * of `extensions` goes to gs://<bucket>/<prefix>/<file name>. The folders are listed when the
 * stack is synthesized, so the file list is written down nowhere else.
 */
export interface UploadRule {
  readonly folder: string;
  readonly extensions: readonly string[];
  readonly bucket: string;
  readonly prefix: string;
}

/**
 * One Python package shipped as one archive (lib/archive.ts): the folder `package` (relative to the
 * repository) goes to gs://<bucket>/<prefix>/<package name>.zip.
 */
export interface ArchiveRule {
  readonly package: string;
  readonly bucket: string;
  readonly prefix: string;
}

/** Where synthesis writes the archives it builds (ignored by git, like cdktf.out/). */
export const ARCHIVE_DIR = '.gen/archives';

export function filesFor(rule: UploadRule, root: string = REPO_ROOT): string[] {
  const dir = path.join(root, rule.folder);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    // A link counts as the file it points to (airflow/dags/lab_contract.json links to the contract).
    .filter((e) => fs.statSync(path.join(dir, e.name)).isFile() && rule.extensions.some((ext) => e.name.endsWith(ext)))
    .map((e) => e.name)
    .sort();
}

export interface UploadsProps {
  readonly rules: readonly UploadRule[];
  readonly archives?: readonly ArchiveRule[];
  /** @default - the repository root */
  readonly root?: string;
}

/**
 * Uploads local files as TerraformAssets. An asset's synthesized path carries a hash of its
 * content, so editing a DAG or a job re-uploads it on the next deploy and nothing else.
 */
export class Uploads extends Construct {
  readonly objects: StorageBucketObject[] = [];
  /** Each object's local file, by object name: what the cloud twin deploys (local/twin/stack.ts). */
  readonly localFiles: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: UploadsProps) {
    super(scope, id);
    const root = props.root ?? REPO_ROOT;
    for (const rule of props.rules) {
      for (const file of filesFor(rule, root)) {
        this.upload(rule.bucket, `${rule.prefix}/${file}`, path.resolve(root, rule.folder, file));
      }
    }
    for (const rule of props.archives ?? []) {
      const archive = writePackageArchive(path.resolve(root, rule.package), path.resolve(root, ARCHIVE_DIR));
      this.upload(rule.bucket, `${rule.prefix}/${path.basename(archive)}`, archive);
    }
  }

  private upload(bucket: string, objectName: string, file: string): void {
    const assetId = objectName.replace(/[^A-Za-z0-9]/g, '-');
    const asset = new TerraformAsset(this, `${assetId}-asset`, { path: file, type: AssetType.FILE });
    this.localFiles[objectName] = file;
    this.objects.push(
      new StorageBucketObject(this, assetId, {
        bucket,
        name: objectName,
        // The asset path holds a hash of the content: a changed file is a changed source,
        // which replaces the object.
        source: asset.path,
      }),
    );
  }
}

/**
 * What the lab uploads: the DAGs with the data files they read beside them (batch size, connector
 * version, the contract) into the environment's DAG folder, the jobs' entry points and their
 * package as one archive into the code bucket, the sample data into the data bucket.
 */
export function labUploads(scope: Construct, buckets: Readonly<Record<BucketPurpose, LabBucket>>): Uploads {
  const { composer, code, data } = buckets;
  return new Uploads(scope, 'uploads', {
    rules: [
      { folder: 'airflow/dags', extensions: ['.py', '.json'], bucket: composer.bucket.name, prefix: 'dags' },
      { folder: 'pyspark', extensions: ['.py'], bucket: code.bucket.name, prefix: 'pyspark' },
      { folder: 'pyspark/data', extensions: ['.csv'], bucket: data.bucket.name, prefix: 'data' },
    ],
    archives: [{ package: 'pyspark/s8s_churn', bucket: code.bucket.name, prefix: 'pyspark' }],
  });
}
