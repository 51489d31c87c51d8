"""A real Kubernetes control plane for tests and benchmarks, built here from Go modules (see README)."""

from controlplane.build import BuildError, binary_dir, ensure_built
from controlplane.launcher import ControlPlane, ControlPlaneError

__all__ = ["BuildError", "ControlPlane", "ControlPlaneError", "binary_dir", "ensure_built"]
