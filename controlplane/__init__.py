"""A real Kubernetes control plane for tests and benchmarks, built here from Go modules (see README).

``controlplane.build`` builds and caches the binaries (``python -m controlplane.build``); ``controlplane.launcher``
starts them (``ControlPlane``). Nothing is imported here, so ``python -m controlplane.build`` runs cleanly.
"""
