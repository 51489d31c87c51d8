"""The sandbox API server: a local Kubernetes API emulator for Helm, the official client and kubectl.

See ``kubesandbox/README.md`` for what it does and does not emulate.
"""

from __future__ import annotations

from .faults import Fault, FaultSet
from .sandbox import Sandbox, check_loopback, write_kubeconfig
from .store import Store

__all__ = ["Fault", "FaultSet", "Sandbox", "Store", "check_loopback", "write_kubeconfig"]
