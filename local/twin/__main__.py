"""The cloud twin's command line, run from the repository root:

python -m local.twin up STATE_DIR     start both emulators, deploy the lab's buckets and BigQuery objects
python -m local.twin down STATE_DIR   stop what `up` started (by the process ids it recorded)
python -m local.twin jars             the Cloud Storage connector's jars (local/connector/jars.py)
"""

import sys

from local.twin.emulators import main

sys.exit(main())
