"""Loads the Dataproc redirect (local/composer/dataproc_redirect.py) into every process of the local
Airflow, and into no other: only the local Airflow puts this folder on PYTHONPATH (local/composer/airflow.py).

Python imports `sitecustomize` at start. Importing the Google provider that early would slow every
`airflow` process and change Airflow's own import order, so this only registers a finder: when a
process first imports airflow.providers.google.cloud.hooks.dataproc, the module is loaded as usual
and the redirect is installed on it at once, before any task can use the hook. The repository's
`local` package is loaded from its folder by path, so the repository root never goes on sys.path
(its airflow/ and pyspark/ folders must not shadow the installed packages).
"""

import importlib.abc
import importlib.util
import os
import sys

_HOOK_MODULE = "airflow.providers.google.cloud.hooks.dataproc"
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _install_redirect():
    if "local" not in sys.modules:
        folder = os.path.join(_REPO, "local")
        spec = importlib.util.spec_from_file_location(
            "local", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["local"] = module
        if os.path.exists(spec.origin):
            spec.loader.exec_module(module)
    redirect = importlib.import_module("local.composer.dataproc_redirect")
    redirect.install()


class _AfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _HOOK_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_redirect(module):
            exec_module(module)
            _install_redirect()

        loader.exec_module = exec_then_redirect
        return spec


if os.environ.get("S8S_DATAPROC_TWIN"):
    sys.meta_path.insert(0, _AfterImport())
