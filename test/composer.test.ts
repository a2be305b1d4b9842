import { AnnotationMetadataEntryType, TerraformStack, Testing } from 'cdktf';
import { DEFAULT_COMPOSER_IMAGE } from '../lib/config';
import { airflowEnvVariables, Composer } from '../lib/composer';
import { AIRFLOW_VARIABLES, OPTIONAL_AIRFLOW_VARIABLES } from '../lib/contract';
import { Json, resourcesOf, single, synthLab } from './helpers';
import { Construct } from 'constructs';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { Principal } from '../lib/identity';
import { LabBucket } from '../lib/storage';

/** A value for every required variable, none for the optional ones. */
function requiredValues(): Record<string, string> {
  return Object.fromEntries(
    Object.keys(AIRFLOW_VARIABLES).filter((k) => !OPTIONAL_AIRFLOW_VARIABLES.includes(k)).map((k) => [k, `value-of-${k}`]),
  );
}

const envName = (k: string) => `AIRFLOW_VAR_${k.toUpperCase()}`;

describe('airflow/variables.json', () => {
  test('names the optional variables among the variables: the custom image (no connector jar: the runtime ships it)', () => {
    expect([...OPTIONAL_AIRFLOW_VARIABLES].sort()).toEqual(['container_image_uri']);
    expect(Object.keys(AIRFLOW_VARIABLES)).not.toContain('bq_connector_jar_uri');
    for (const k of OPTIONAL_AIRFLOW_VARIABLES) expect(Object.keys(AIRFLOW_VARIABLES)).toContain(k);
  });
});

describe('airflowEnvVariables', () => {
  test('sets every required variable and leaves an empty or absent optional one out, never as ""', () => {
    const empty = Object.fromEntries(OPTIONAL_AIRFLOW_VARIABLES.map((k) => [k, '']));
    for (const values of [requiredValues(), { ...requiredValues(), ...empty }]) {
      const env = airflowEnvVariables(values);
      expect(Object.keys(env).sort()).toEqual(Object.keys(requiredValues()).map(envName).sort());
      expect(Object.values(env)).not.toContain('');
    }
  });

  test('sets an optional variable that has a value', () => {
    const env = airflowEnvVariables({ ...requiredValues(), container_image_uri: 'us-docker.pkg.dev/p/lab/spark:1' });
    expect(env.AIRFLOW_VAR_CONTAINER_IMAGE_URI).toBe('us-docker.pkg.dev/p/lab/spark:1');
  });

  test('refuses a required variable that is missing or empty, naming it', () => {
    const { region: _region, ...withoutRegion } = requiredValues();
    expect(() => airflowEnvVariables(withoutRegion)).toThrow(/required but missing or empty \["region"\]/);
    expect(() => airflowEnvVariables({ ...requiredValues(), subnet: '' })).toThrow(/required but missing or empty \["subnet"\]/);
  });

  test('refuses a variable no DAG reads, naming it', () => {
    expect(() => airflowEnvVariables({ ...requiredValues(), colour: 'blue' })).toThrow(/not read by any DAG \["colour"\]/);
  });
});

/** The environment's account and bucket, for a Composer construct synthesized on its own. */
function accountAndBucket(scope: Construct): { runsAs: Principal; bucket: LabBucket } {
  const account = new ServiceAccount(scope, 'sa', { accountId: 'sa' });
  const bucket = new LabBucket(scope, 'bucket', { projectId: 'p', region: 'us-central1', name: 'b', labels: {} });
  return { runsAs: new Principal('lab', account), bucket };
}

describe('Composer construct', () => {
  function synthComposer(variables: Record<string, string>): Json {
    const scope = Testing.synthScope((s) => {
      new Composer(s, 'composer', { ...accountAndBucket(s), projectId: 'p', region: 'us-central1', name: 'env', labels: {}, variables });
    });
    return JSON.parse(scope);
  }

  test('synthesizes no AIRFLOW_VAR_* with an empty value', () => {
    const env = single(synthComposer({ ...requiredValues(), container_image_uri: '' }), 'google_composer_environment');
    const vars = env.config.software_config.env_variables as Record<string, string>;
    expect(Object.keys(vars).sort()).toEqual(Object.keys(requiredValues()).map(envName).sort());
    expect(Object.values(vars)).not.toContain('');
  });
});

describe('the lab stack', () => {
  test.each([
    ['with the default configuration', {}],
    ['with a custom image', { S8S_CONTAINER_IMAGE: 'us-docker.pkg.dev/demo-proj/lab/spark:1' }],
  ])('synthesizes no empty AIRFLOW_VAR_* %s', (_, extra) => {
    const stack = synthLab({ GOOGLE_CLOUD_PROJECT: 'demo-proj', ...extra });
    for (const env of Object.values(resourcesOf(stack, 'google_composer_environment'))) {
      const vars = env.config.software_config.env_variables as Record<string, string>;
      for (const [name, value] of Object.entries(vars)) expect([name, value]).not.toEqual([name, '']);
      const optionalSet = OPTIONAL_AIRFLOW_VARIABLES.filter((k) => envName(k) in vars);
      expect(optionalSet.length).toBe(Object.keys(extra).length);
    }
  });
});

describe('the Composer image the construct deploys', () => {
  const warningsOf = (imageVersion?: string) => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'test');
    const composer = new Composer(stack, 'composer', {
      ...accountAndBucket(stack), projectId: 'p', region: 'us-central1', name: 'env', labels: {}, variables: requiredValues(), imageVersion,
    });
    return composer.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.WARN).map((m) => String(m.data));
  };

  test('the default is the tested build, with no warning', () => {
    expect(warningsOf()).toEqual([]);
    expect(warningsOf(DEFAULT_COMPOSER_IMAGE)).toEqual([]);
  });

  test('an alias or another build of a tested line deploys, with a warning naming the tested build', () => {
    expect(warningsOf('composer-3-airflow-3.3.1')).toEqual([
      expect.stringMatching(/^Composer image composer-3-airflow-3\.3\.1 is not the build the tests lock \(composer-3-airflow-3\.3\.1-build\.10\): an alias resolves to the newest build at creation/),
    ]);
    expect(warningsOf('composer-3-airflow-3.3.1-build.12')).toEqual([expect.stringContaining('its packages were not tested')]);
  });
});
