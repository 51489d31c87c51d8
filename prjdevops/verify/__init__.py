"""The post-deploy verify suite's library: pure checks, discovery from an environment, host/node probes, reports.

The pytest suite itself lives in ``verify/`` at the repository root and only runs against a live environment.
"""
