/**
 * The organization policies that would stop the lab, judged from the effective policy
 * (orgpolicy v2 getEffectivePolicy) as Google applies it. Constraints:
 * https://cloud.google.com/resource-manager/docs/organization-policy/org-policy-constraints.
 */
import { LabConfig } from '../lib/config';
import { LAB_APIS } from '../lib/services';
import { judgeLocations, LocationRule, Verdict } from './locations';

export interface PolicyRule extends LocationRule {
  enforce?: boolean;
  /** A google.type.Expr over tags: the rule applies only where it holds. */
  condition?: { expression?: string; title?: string };
}
export interface Policy { name?: string; spec?: { rules?: PolicyRule[] } }

export interface OrgCheck {
  readonly constraint: string;
  /** Why it matters to this lab. */
  readonly why: string;
  /** The verdict for rules that all apply. */
  readonly judge: (rules: readonly PolicyRule[], config: LabConfig) => Verdict;
}

const enforced = (rules: readonly PolicyRule[]) => rules.some((r) => r.enforce === true);

/** Values a list policy allows and denies, for constraints whose values are plain names. */
function list(rules: readonly PolicyRule[]) {
  return {
    allowAll: rules.length === 0 || rules.some((r) => r.allowAll === true),
    denyAll: rules.some((r) => r.denyAll === true),
    allowed: rules.flatMap((r) => r.values?.allowedValues ?? []).map((v) => v.replace(/^is:/, '')),
    denied: rules.flatMap((r) => r.values?.deniedValues ?? []).map((v) => v.replace(/^is:/, '')),
  };
}

/** Whether a list policy permits a plain value: not denied, and allowed when there is an allow list. */
function permits(rules: readonly PolicyRule[], value: string): boolean {
  const l = list(rules);
  if (l.denyAll || l.denied.includes(value)) return false;
  return l.allowAll || l.allowed.length === 0 || l.allowed.includes(value);
}

const serviceAccounts = (constraint: string): OrgCheck => ({
  constraint,
  why: 'the stack creates two service accounts (s8s-lab-sa, s8s-spark-sa)',
  judge: (rules) => (enforced(rules)
    ? { status: 'fail', found: 'enforced: service accounts cannot be created', action: 'ask for an exception on this project' }
    : { status: 'ok', found: 'not enforced' }),
});

export const ORG_CHECKS: readonly OrgCheck[] = [
  {
    constraint: 'gcp.resourceLocations',
    why: 'every lab resource is in S8S_REGION; Composer needs the whole region allowed, not a zone (https://cloud.google.com/composer/docs/resource-location-restrictions); where the constraint is enforced the stack grants s8s-lab-sa ActAs on itself, which Composer 3 needs',
    judge: (rules, { region }) => judgeLocations(rules, region),
  },
  serviceAccounts('iam.disableServiceAccountCreation'),
  // The managed (custom-constraint-platform) successor, a separate constraint an organization may
  // enforce instead of or beside the legacy one:
  // https://cloud.google.com/resource-manager/docs/organization-policy/restricting-service-accounts
  serviceAccounts('iam.managed.disableServiceAccountCreation'),
  {
    constraint: 'gcp.restrictServiceUsage',
    why: 'the lab uses these APIs: ' + LAB_APIS.join(', '),
    judge: (rules) => {
      const blocked = LAB_APIS.filter((s) => !permits(rules, s));
      if (blocked.length > 0) return { status: 'fail', found: `not allowed: ${blocked.join(', ')}`, action: 'ask for these services to be allowed on this project' };
      return { status: 'ok', found: 'every lab API is allowed' };
    },
  },
  {
    constraint: 'gcp.restrictNonCmekServices',
    why: 'the lab uses Google-managed keys (a Cloud KMS key could never be deleted by destroy; lib/policy.ts)',
    judge: (rules) => {
      const l = list(rules);
      const cmekOnly = ['bigquery.googleapis.com', 'composer.googleapis.com', 'compute.googleapis.com', 'dataproc.googleapis.com', 'storage.googleapis.com']
        .filter((s) => l.denyAll || l.denied.includes(s));
      if (cmekOnly.length > 0) return { status: 'fail', found: `CMEK required for ${cmekOnly.join(', ')}`, action: 'ask for an exception on this project (the lab holds synthetic data only)' };
      return { status: 'ok', found: 'Google-managed keys are allowed for the lab\'s services' };
    },
  },
  {
    constraint: 'storage.softDeletePolicySeconds',
    why: 'the lab\'s buckets turn soft delete off (retention 0), so destroy leaves nothing billing (lib/storage.ts)',
    judge: (rules) => {
      if (!permits(rules, '0')) {
        return { status: 'fail', found: `a retention of 0 is not allowed (allowed: ${list(rules).allowed.join(', ') || 'none'})`, action: 'ask for an exception: bucket creation would fail' };
      }
      return { status: 'ok', found: 'a retention of 0 is allowed' };
    },
  },
  {
    // A list of allowed retention-policy durations: each new bucket must then carry a retention
    // policy of one of them. The lab's buckets carry none (creation is refused), and a retention
    // policy would keep destroy from deleting their objects until it expires.
    constraint: 'storage.retentionPolicySeconds',
    why: 'the lab\'s buckets have no retention policy, so destroy can empty and delete them (lib/storage.ts)',
    judge: (rules) => {
      const l = list(rules);
      if (l.denyAll) return { status: 'fail', found: 'no retention duration is allowed (denyAll)', action: 'ask for an exception: bucket creation would fail' };
      if (!l.allowAll && l.allowed.length > 0) {
        return {
          status: 'fail', found: `buckets must carry a retention policy of ${l.allowed.join(' or ')} s`,
          action: 'ask for an exception on this project: the lab\'s buckets set no retention policy, and one would keep destroy from deleting their objects',
        };
      }
      return { status: 'ok', found: 'buckets may go without a retention policy' };
    },
  },
];

/**
 * The effective policy judged as Google would. Preflight cannot evaluate conditions (tags bound to
 * the project or its parents), so it judges the policy both without and with its conditional
 * rules: the same answer either way is that answer; different answers are reported as unknown,
 * with the conditions.
 */
export function judgePolicy(check: OrgCheck, policy: Policy, config: LabConfig): Verdict {
  const rules = policy.spec?.rules ?? [];
  const conditional = rules.filter((r) => r.condition !== undefined);
  const plain = rules.filter((r) => r.condition === undefined);
  const without = check.judge(plain, config);
  if (conditional.length === 0) return without;
  const strip = (r: PolicyRule): PolicyRule => ({ ...r, condition: undefined });
  const withThem = check.judge([...plain, ...conditional.map(strip)], config);
  const conditions = conditional.map((r) => r.condition?.expression ?? r.condition?.title ?? '(no expression)').join('; ');
  if (without.status === withThem.status) {
    return { ...without, found: `${without.found} (the same with or without its conditional rules: ${conditions})` };
  }
  return {
    status: 'unknown',
    found: `depends on conditional rules (${conditions}): without them ${without.status}: ${without.found}; with them ${withThem.status}: ${withThem.found}`,
    action: 'preflight cannot evaluate tag conditions: check which tags the project and its folders carry (gcloud resource-manager tags bindings list --effective --parent=//cloudresourcemanager.googleapis.com/projects/PROJECT_NUMBER)',
  };
}
