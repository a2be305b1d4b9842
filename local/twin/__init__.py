"""The cloud twin: emulators of Cloud Storage and BigQuery, and the lab's objects in them."""
