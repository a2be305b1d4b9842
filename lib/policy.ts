import { TerraformResource } from 'cdktf';

export interface CheckSuppression {
  readonly id: string;
  readonly comment: string;
}

const suppressions = new WeakMap<TerraformResource, CheckSuppression[]>();

/**
 * Records, next to the resource, that a Checkov check does not apply and why. The reason lands
 * in the synthesized JSON under the resource's "//" comment key; scripts/checkov_gate.py
 * accepts a failed check only for a resource that carries such a reason for it.
 */
export function suppressCheck(resource: TerraformResource, id: string, comment: string): void {
  if (!/^CKV2?_GCP_\d+$/.test(id)) throw new Error(`suppressCheck: ${JSON.stringify(id)} is not a Checkov GCP check id`);
  if (comment.trim().length < 20) throw new Error(`suppressCheck(${id}): give a reason a reviewer can accept`);
  const list = suppressions.get(resource) ?? [];
  list.push({ id, comment });
  suppressions.set(resource, list);
  resource.addOverride('//', { checkov: { skip: list } });
}

/** Reasons shared by several resources. */
export const REASONS = {
  googleManagedKeys:
    'Google-managed encryption keys. CMEK needs a Cloud KMS key ring and key, which can never be ' +
    'deleted (only key versions can), so `cdktf destroy` could not remove the whole lab; the lab ' +
    'holds synthetic sample data only.',
  destroyable:
    'The lab must be removable by `cdktf destroy`; deletion protection would make destroy fail. ' +
    'The table holds reproducible lab output.',
  accessLogs:
    'Cloud Audit Logs (Data Access) is the supported way to audit object access; legacy usage ' +
    'logs would need a log bucket that outlives destroy, for synthetic lab data.',
} as const;
