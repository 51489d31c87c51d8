"""The project's errors: one root, subclasses carry context.

Every error a user can cause or fix is a ``DeployError``; tasks print ``str(err)`` as one line and exit
non-zero, never a traceback. Adapters wrap library exceptions (``ApiException``, ``HelmError``) ``from e``.
"""

from __future__ import annotations


class DeployError(Exception):
    """Root of every error the tool reports to a user. ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(DeployError):
    """An environment file, values file or option is wrong."""


class EnvironmentNotFound(ConfigError):
    """The named environment has no file."""


class ValuesError(ConfigError):
    """A values file or a --set expression cannot be used."""


class HelmOperationError(DeployError):
    """A Helm action failed; names the release and namespace and carries Helm's message."""

    def __init__(self, action: str, release: str, namespace: str, detail: str, *, hint: str | None = None):
        super().__init__(f"helm {action} of release {release!r} in namespace {namespace!r} failed: {detail}",
                         hint=hint)
        self.action = action
        self.release = release
        self.namespace = namespace
        self.detail = detail


class ReleaseNotFound(HelmOperationError):
    """The release (or the asked revision) does not exist."""


class RecordNotStored(HelmOperationError):
    """Helm's write applied the release, but the record of its outcome was not stored: the stored revision is
    still ``pending-*`` (Helm logs a failed final record write and reports success anyway)."""


class ClusterError(DeployError):
    """The Kubernetes API refused a request or could not be reached."""


class ClusterUnreachable(ClusterError):
    """No answer from the API server."""


class Conflict(ClusterError):
    """409: the object changed since it was read (or already exists): read again and decide again."""


class GuardRefused(DeployError):
    """A safety guard refused to go on (wrong cluster, no confirmation, latest tag, held lock...)."""

    exit_code = 1


class LeaseLost(GuardRefused):
    """The environment's deploy Lease was taken by someone else while this run held it: stop before any write."""


class HealthCheckFailed(DeployError):
    """Workloads did not become healthy in time."""


class SandboxError(DeployError):
    """The local sandbox API server could not be started, stopped or reached."""


class ChartSourceError(DeployError):
    """A chart could not be fetched from its repository or registry; names the URL, chart and release."""


class GitError(DeployError):
    """A git command failed or the work tree is not in a state the GitOps flow can use; names the command."""


class ArgoCDError(DeployError):
    """Argo CD Applications are invalid, missing, or did not reach the wanted sync/health state."""
