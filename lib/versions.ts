/**
 * The versions of what Google runs for the lab, in one place. docs/versions.md has the pages each
 * rests on and the day they were checked. The Composer image lines are in
 * airflow/composer_images.json (lib/config.ts reads them), the spark-bigquery connector the batches
 * pin in airflow/dags/connectors.json: both are data files the Python side reads too.
 */

/**
 * Dataproc Serverless runtime of every batch: 2.3 LTS (Spark 3.5.3, Python 3.11), supported until
 * 2027-11-26; 2.2's support ended 2026-09-30. Runtime 3.0 has no Persistent History Server.
 */
export const SPARK_RUNTIME_VERSION = '2.3';

/**
 * Image of the history server: the history server's image version must match the version its
 * applications ran on (Dataproc history-server page), so 2.3 for runtime 2.3. Supported until 2027-06-09.
 */
export const PHS_IMAGE_VERSION = '2.3-debian12';
