import * as fs from 'fs';
import * as path from 'path';
import { Json, synthLab } from './helpers';

/**
 * Issue 19 (the restructure) changes what the stack deploys only in its bucket objects: the jobs'
 * package goes as one archive instead of one object per module. The fixture is the synthesized stack
 * of the commit before it (a5b8d29), made with test/helpers.ts's synthLab() and asset hashes replaced
 * by HASH; a later change that means to alter the stack regenerates it (the same call, at that commit).
 */
const BEFORE: Json = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'stack-before-restructure.json'), 'utf8'));

function normalized(stack: Json): Json {
  return JSON.parse(JSON.stringify(stack).replace(/(assets\/[^/"]+\/)[0-9A-F]{32,}\//gi, '$1HASH/'));
}

function withoutBucketObjects(stack: Json): Json {
  const { google_storage_bucket_object: _objects, ...resource } = stack.resource; // eslint-disable-line @typescript-eslint/no-unused-vars
  return { ...stack, resource };
}

describe('the synthesized stack before and after the restructure', () => {
  const after = normalized(synthLab());

  test('every block but the bucket objects is identical: same logical ids, same JSON', () => {
    expect(withoutBucketObjects(after)).toEqual(withoutBucketObjects(BEFORE));
  });

  test('the bucket objects: the package modules became one archive; the DAGs and the sample data are unchanged', () => {
    const names = (s: Json) => Object.values(s.resource.google_storage_bucket_object as Json).map((o) => o.name as string).sort();
    const gone = names(BEFORE).filter((n) => !names(after).includes(n));
    const added = names(after).filter((n) => !names(BEFORE).includes(n));
    expect(added).toEqual(['pyspark/s8s_churn.zip']);
    expect(gone.every((n) => /^pyspark\/(lab_\w+\.py|table_schemas\.json|sample_data\.py)$/.test(n))).toBe(true);
    for (const kept of names(after).filter((n) => n.startsWith('dags/') || n.startsWith('data/'))) {
      const pick = (s: Json) => Object.entries(s.resource.google_storage_bucket_object as Json).find(([, o]) => o.name === kept);
      expect(pick(after)).toEqual(pick(BEFORE));
    }
  });
});
