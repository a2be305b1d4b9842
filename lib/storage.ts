import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { StorageBucket, StorageBucketLifecycleRule } from '@cdktf/provider-google/lib/storage-bucket';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member';
import { BUCKET_PURPOSES, BucketPurpose } from './names';
import { Principal } from './identity';
import { REASONS, suppressCheck } from './policy';

export interface LabBucketProps {
  readonly projectId: string;
  readonly region: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  /** Delete objects older than this many days (for scratch space). @default - keep objects */
  readonly expireAfterDays?: number;
  /** @default - none */
  readonly dependsOn?: ITerraformDependable[];
  /** Create a replacement before destroying this bucket (Terraform create_before_destroy). @default false */
  readonly createBeforeDestroy?: boolean;
}

/**
 * A bucket with the lab's secure defaults: uniform bucket-level access, public access
 * prevention enforced, versioning with old versions expiring after a week, and force_destroy
 * so `cdktf destroy` removes it with its contents.
 *
 * Soft delete is off. Left to Cloud Storage's default, every deleted object is kept, and
 * billed as storage, for 7 days (604800 s) after deletion
 * (https://cloud.google.com/storage/docs/soft-delete), so the objects `force_destroy` deletes
 * would bill for a week after `cdktf destroy`. A retention of 0 disables it (provider 6.50.0
 * `soft_delete_policy.retention_duration_seconds`); Dataproc creates its own staging buckets the
 * same way (https://cloud.google.com/dataproc-serverless/docs/concepts/buckets). The lab's
 * objects are reproducible: the uploads come from this repository, the rest is lab output.
 */
export class LabBucket extends Construct {
  readonly bucket: StorageBucket;

  constructor(scope: Construct, id: string, props: LabBucketProps) {
    super(scope, id);
    const lifecycleRule: StorageBucketLifecycleRule[] = [
      { condition: { daysSinceNoncurrentTime: 7 }, action: { type: 'Delete' } },
    ];
    if (props.expireAfterDays !== undefined) {
      lifecycleRule.push({ condition: { age: props.expireAfterDays }, action: { type: 'Delete' } });
    }
    this.bucket = new StorageBucket(this, 'bucket', {
      project: props.projectId,
      name: props.name,
      // Regional, Standard class: what Composer requires of a custom environment bucket, and
      // the cheapest place for data the batches in the same region read.
      location: props.region.toUpperCase(),
      storageClass: 'STANDARD',
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
      forceDestroy: true,
      versioning: { enabled: true },
      softDeletePolicy: { retentionDurationSeconds: 0 },
      lifecycleRule,
      labels: props.labels,
      dependsOn: props.dependsOn,
      lifecycle: props.createBeforeDestroy ? { createBeforeDestroy: true } : undefined,
    });
    suppressCheck(this.bucket, 'CKV_GCP_62', REASONS.accessLogs);
  }

  /** Read objects. */
  grantRead(principal: Principal): StorageBucketIamMember {
    return this.grant(principal, 'roles/storage.objectViewer');
  }

  /** Read, write and delete objects. */
  grantReadWrite(principal: Principal): StorageBucketIamMember {
    return this.grant(principal, 'roles/storage.objectUser');
  }

  private grant(principal: Principal, role: string): StorageBucketIamMember {
    const member = new StorageBucketIamMember(this, `${principal.key}-${role.replace('roles/storage.', '')}`, {
      bucket: this.bucket.name,
      role,
      member: principal.member,
    });
    principal.granted(member, this);
    return member;
  }
}

export interface StorageProps {
  readonly projectId: string;
  readonly region: string;
  readonly labels: Record<string, string>;
  readonly bucketName: (purpose: BucketPurpose) => string;
  /** @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * Spark event logs age out after 30 days. The spark bucket keeps its objects: it is also the
 * history server's staging bucket, and Dataproc needs its files there for as long as the
 * cluster lives (the BigQuery connector deletes its own temporary files).
 */
const EXPIRE_DAYS: Partial<Record<BucketPurpose, number>> = { phs: 30 };

/** One bucket per purpose in BUCKET_PURPOSES. */
export class Storage extends Construct {
  readonly buckets: Readonly<Record<BucketPurpose, LabBucket>>;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const buckets = {} as Record<BucketPurpose, LabBucket>;
    for (const purpose of BUCKET_PURPOSES) {
      buckets[purpose] = new LabBucket(this, purpose, {
        projectId: props.projectId,
        region: props.region,
        name: props.bucketName(purpose),
        labels: { ...props.labels, purpose },
        expireAfterDays: EXPIRE_DAYS[purpose],
        dependsOn: props.dependsOn,
        // Named after the Airflow line (lib/names.ts): a new line gets a new environment and a
        // new bucket beside the old pair, since Composer refuses a bucket another environment
        // still uses (https://cloud.google.com/composer/docs/composer-3/custom-bucket).
        createBeforeDestroy: purpose === 'composer',
      });
    }
    this.buckets = buckets;
  }
}
