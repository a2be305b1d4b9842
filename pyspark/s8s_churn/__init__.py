"""The churn-scoring jobs' code, one package: the entry points beside it (batch_scoring.py,
model_training.py) are what Dataproc runs, and the stack ships this package to the batch as one
archive. Its name shadows nothing the runtime brings (not `pyspark`, not a generic `model`)."""
