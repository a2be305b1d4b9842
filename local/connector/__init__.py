"""The connectors the twin's Spark uses: the Cloud Storage connector's jars (jars.py) and the
spark-bigquery connector's indirect write, step for step (bigquery.py)."""
