"""The Dataproc Serverless twin: runs a batch's main file with its arguments against the cloud twin."""
