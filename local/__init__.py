"""The lab on this machine, no cloud account: the cloud twin (twin/), the connector jars (connector/),
the Dataproc Serverless twin (dataproc/), and the command line of `npm run local` (cli.py).
Run its modules from the repository root, e.g. `python -m local.cli`."""
