"""Tasks for the local sandbox API server."""

from __future__ import annotations

from invoke import Collection, Context, task

from tasks.common import errors, say, settings


@task(help={"port": "port on 127.0.0.1 (default from invoke.yaml: 6550)"})
@errors
def sandbox_up(c: Context, port: int = 0) -> None:
    """Start the local sandbox Kubernetes API server in the background."""
    from prjdevops.ops import session

    info = session.sandbox_up(settings(c), port)
    say(f"sandbox API server running at {info.url} (pid {info.pid})")
    say(f"kubeconfig: {info.kubeconfig}  (kubectl --kubeconfig {info.kubeconfig} get ns)")
    say("use it with --env local, e.g. invoke stg.deploy --env local; stop it with invoke sandbox.down")


@task()
@errors
def sandbox_status(c: Context) -> None:
    """Show whether the sandbox API server runs, where, and its kubeconfig."""
    from prjdevops.ops import session

    info = session.sandbox_status(settings(c))
    if info is None:
        say("sandbox API server is not running (start it with invoke sandbox.up)")
        return
    say(f"sandbox API server running at {info.url} (pid {info.pid}); kubeconfig {info.kubeconfig}")


@task()
@errors
def sandbox_down(c: Context) -> None:
    """Stop the sandbox API server; its state is kept for the next sandbox.up."""
    from prjdevops.ops import session

    stopped = session.sandbox_down(settings(c))
    say("sandbox API server stopped (state kept)" if stopped else "sandbox API server was not running")


@task()
@errors
def sandbox_reset(c: Context) -> None:
    """Stop the sandbox and wipe its stored cluster state."""
    from prjdevops.ops import session

    session.sandbox_reset(settings(c))
    say("sandbox state wiped")



ns = Collection("sandbox")
ns.add_task(sandbox_up, "up")
ns.add_task(sandbox_status, "status")
ns.add_task(sandbox_down, "down")
ns.add_task(sandbox_reset, "reset")
