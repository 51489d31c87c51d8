"""The post-deploy verify suite: checks generated from the environment, and the team's own tests beside them.

Run it with ``invoke verify --env NAME [--only GROUP]`` (which also writes JUnit XML under ``reports/`` and prints the
summary table), or directly: ``pytest verify --verify-env NAME [--verify-only GROUP]``. The environment name may also
come from ``$PRJDEVOPS_VERIFY_ENV``; the environments folder from ``$PRJDEVOPS_ENVIRONMENTS`` as everywhere else.

Your own tests go in this folder as ``test_*.py`` files: plain pytest functions over the fixtures ``env``, ``kube``,
``release``, ``k8s`` and ``host`` (one run per SSH node of the inventory), grouped with
``@pytest.mark.group("app-smoke")``. See README.md here for the fixtures and two worked examples.

This folder runs only against a live environment: the repository's unit/integration run (``testpaths = tests``) never
collects it; tests in ``tests/`` run it in a subprocess against the sandbox. The hooks and fixtures live in the
library (``prjdevops/verify/plugin.py``), typed and tested; this file only brings them into the folder.
"""

from prjdevops.verify.plugin import *  # noqa: F403  (hooks and fixtures; they override pytest-testinfra's `host`)
