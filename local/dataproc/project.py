"""What the Dataproc twin knows of its project: the facts a real CreateBatch is checked against.

Written by the deploy into the twin (local/twin/deploy.py) from the synthesized stack, so the
subnet, the service accounts and the history server a batch may name are the stack's, and nothing
else exists: STATE_DIR/dataproc/project.json. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The twin project's regional CPUS limit: the default regional vCPU quota the Serverless quotas
# page works its example against (24 vCPUs; https://cloud.google.com/dataproc-serverless/quotas).
# A free-trial project has 8; deploy with S8S_TWIN_CPUS_QUOTA=8 to see the lab refused as it would be.
DEFAULT_CPUS_QUOTA = 24


@dataclass
class Project:
    project: str
    region: str
    subnetworks: list[str]  # projects/P/regions/R/subnetworks/NAME
    service_accounts: list[str]  # e-mail addresses
    history_clusters: dict[str, int] = field(default_factory=dict)  # cluster resource name -> its vCPUs (CPUS)
    cpus_quota: int = DEFAULT_CPUS_QUOTA  # the region's CPUS limit

    @staticmethod
    def path(state_dir: Path) -> Path:
        return Path(state_dir) / "dataproc" / "project.json"

    @classmethod
    def load(cls, state_dir: Path) -> Project:
        path = cls.path(state_dir)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: deploy the stack into the twin first (python -m local.twin deploy {state_dir})"
            )
        return cls(**json.loads(path.read_text()))

    def save(self, state_dir: Path) -> None:
        path = self.path(state_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @property
    def history_vcpus(self) -> int:
        """CPUS the history server's cluster holds while it is up (always, in a deployed lab)."""
        return sum(self.history_clusters.values())


def from_stack(stack: dict, cpus_quota: int = DEFAULT_CPUS_QUOTA) -> Project:
    """The project's facts as the synthesized stack (references resolved) creates them."""
    from local.dataproc.quota import machine_vcpus

    res = stack["resources"]
    subnets = list(res.get("google_compute_subnetwork", {}).values())
    if not subnets:
        raise ValueError("the stack has no google_compute_subnetwork: a batch would have no network")
    project, region = subnets[0]["project"], subnets[0]["region"]
    clusters = {}
    for c in res.get("google_dataproc_cluster", {}).values():
        master = c["cluster_config"]["master_config"]
        name = f"projects/{c.get('project', project)}/regions/{c['region']}/clusters/{c['name']}"
        clusters[name] = machine_vcpus(master["machine_type"])["vcpus"] * int(master.get("num_instances", 1))
    return Project(
        project=project,
        region=region,
        subnetworks=[f"projects/{s.get('project', project)}/regions/{s['region']}/subnetworks/{s['name']}" for s in subnets],
        service_accounts=[
            f"{a['account_id']}@{a.get('project', project)}.iam.gserviceaccount.com"
            for a in res.get("google_service_account", {}).values()
        ],
        history_clusters=clusters,
        cpus_quota=cpus_quota,
    )
