import { App } from 'cdktf';
import { ConfigError, loadConfig } from './lib/config';
import { LabStack } from './lib/stack';

// The only place that reads the environment: everything below gets typed, validated values.
function main(): void {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
  const app = new App();
  new LabStack(app, 's8s-scoring-lab', config);
  app.synth();
}

main();
