"""The connector jars of the cloud twin's Spark (jars.py): Google's spark-bigquery connector at the
version the batches pin (airflow/dags/connectors.json), and the Cloud Storage connector with the
Hadoop client jars it needs."""
