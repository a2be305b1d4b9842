/**
 * constraints/gcp.resourceLocations judged for one region as Google judges it
 * (https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations):
 * - a value without `in:` is only itself: `us-central1` is the region, not its zones; `us` the
 *   multi-region;
 * - `in:<region>-locations` holds the region and all its zones; other `in:` groups hold what
 *   Google lists for them (preflight/location-groups.json, the one table);
 * - a denied value wins over an allowed one; a policy that only denies allows everything else;
 * - `allowAll` / `denyAll` allow or deny every location.
 * The lab needs the region itself (Composer, buckets, the dataset, the subnet) and its zones (the
 * history server's VM and the batches' VMs, whose zone Dataproc picks).
 */
import table from './location-groups.json';

type Holds = 'yes' | 'no' | 'unknown';

const GROUPS: Readonly<Record<string, readonly string[]>> = table.groups;
export const LOCATION_GROUPS_SOURCE = `${table.source} (read ${table.read})`;

/** The group a region's own `in:` value names, such as us-central1-locations. */
const REGION_GROUP = /^([a-z]+-[a-z]+\d+)-locations$/;

/** Whether one allowed or denied value holds the region (`is:` is the explicit form of a plain value). */
export function valueHolds(value: string, region: string, seen: Set<string> = new Set()): Holds {
  const v = value.replace(/^is:/, '');
  if (!v.startsWith('in:')) return v === region ? 'yes' : 'no';
  const group = v.slice(3);
  const own = REGION_GROUP.exec(group);
  if (own) return own[1] === region ? 'yes' : 'no';
  const members = GROUPS[group];
  if (members === undefined) return 'unknown';
  if (seen.has(group)) return 'no';
  seen.add(group);
  let result: Holds = 'no';
  for (const m of members) {
    const r = valueHolds(m, region, seen);
    if (r === 'yes') return 'yes';
    if (r === 'unknown') result = 'unknown';
  }
  return result;
}

/** A value naming a group preflight has no membership for (to name it in the row). */
const unresolved = (values: readonly string[], region: string) => values.filter((v) => valueHolds(v, region) === 'unknown');

/** A zone of the region given on its own (us-central1-a), which holds only that zone. */
const zoneOf = (value: string, region: string) => new RegExp(`^(is:)?${region}-[a-z]$`).test(value);

export interface LocationRule {
  values?: { allowedValues?: string[]; deniedValues?: string[] };
  allowAll?: boolean;
  denyAll?: boolean;
}

export interface Verdict {
  status: 'ok' | 'fail' | 'unknown';
  found: string;
  action?: string;
}

const PICK = 'pick an allowed S8S_REGION, or ask the administrators for an exception on this project';

/** The verdict for rules that all apply (conditions are handled by the caller). */
export function judgeLocations(rules: readonly LocationRule[], region: string): Verdict {
  if (rules.length === 0) return { status: 'ok', found: 'not restricted' };
  if (rules.some((r) => r.denyAll === true)) return { status: 'fail', found: 'every location is denied (denyAll)', action: PICK };
  const allowAll = rules.some((r) => r.allowAll === true);
  const allowed = rules.flatMap((r) => r.values?.allowedValues ?? []);
  const denied = rules.flatMap((r) => r.values?.deniedValues ?? []);

  const deniedBy = denied.filter((v) => valueHolds(v, region) === 'yes');
  if (deniedBy.length > 0) return { status: 'fail', found: `${region} is denied by ${deniedBy.join(', ')}`, action: PICK };

  let found: string;
  if (allowAll || allowed.length === 0) {
    found = denied.length > 0 ? `${region} is allowed: the policy only denies ${denied.join(', ')}` : 'not restricted';
  } else {
    const allowedBy = allowed.filter((v) => valueHolds(v, region) === 'yes');
    if (allowedBy.length === 0) {
      const unknownGroups = unresolved(allowed, region);
      if (unknownGroups.length > 0) {
        return {
          status: 'unknown',
          found: `${region} is in none of the allowed values preflight can resolve (${allowed.join(', ')}); it has no membership for ${unknownGroups.join(', ')}`,
          action: `check whether ${unknownGroups.join(', ')} holds ${region} (${table.source}); preflight/location-groups.json lists the groups it knows`,
        };
      }
      return { status: 'fail', found: `${region} is not allowed (allowed: ${allowed.join(', ')})`, action: PICK };
    }
    if (!allowedBy.some((v) => v.startsWith('in:'))) {
      return {
        status: 'fail',
        found: `${region} is allowed but not its zones (allowed: ${allowed.join(', ')}): the history server's and the batches' VMs are zonal`,
        action: `ask for in:${region}-locations (the region and its zones) instead of ${region} alone`,
      };
    }
    found = `${region} is allowed by ${allowedBy.join(', ')}`;
  }
  const unknownDenied = unresolved(denied, region);
  if (unknownDenied.length > 0) {
    return {
      status: 'unknown',
      found: `${found}; preflight has no membership for the denied ${unknownDenied.join(', ')}`,
      action: `check whether ${unknownDenied.join(', ')} holds ${region} (${table.source})`,
    };
  }
  const deniedZones = denied.filter((v) => zoneOf(v, region));
  if (deniedZones.length > 0) {
    return {
      status: 'unknown',
      found: `${found}, but its zones ${deniedZones.join(', ')} are denied`,
      action: 'Dataproc picks the zone of the history server and of the batches itself and may pick a denied one: ask for the zones to be allowed',
    };
  }
  return { status: 'ok', found };
}
