"""Tasks for the local sandbox API server."""

from __future__ import annotations

from invoke import Collection, Context, task

from tasks.common import errors, say, settings


@task(help={"port": "port on 127.0.0.1 (default from invoke.yaml: 6550)"})
@errors
def sandbox_up(c: Context, port: int = 0) -> None:
    """Start the local sandbox Kubernetes API server in the background."""
    from kubesandbox import lifecycle

    s = settings(c)
    info = lifecycle.up(s.sandbox_dir(), port=port or s.sandbox_port)
    say(f"sandbox API server running at {info.url} (pid {info.pid})")
    say(f"kubeconfig: {info.kubeconfig}  (kubectl --kubeconfig {info.kubeconfig} get ns)")
    say("use it with --env local, e.g. invoke stg.deploy --env local; stop it with invoke sandbox.down")


@task()
@errors
def sandbox_status(c: Context) -> None:
    """Show whether the sandbox API server runs, where, and its kubeconfig."""
    from kubesandbox import lifecycle

    info = lifecycle.status(settings(c).sandbox_dir())
    if info is None:
        say("sandbox API server is not running (start it with invoke sandbox.up)")
        return
    say(f"sandbox API server running at {info.url} (pid {info.pid}); kubeconfig {info.kubeconfig}")


@task()
@errors
def sandbox_down(c: Context) -> None:
    """Stop the sandbox API server; its state is kept for the next sandbox.up."""
    from kubesandbox import lifecycle

    stopped = lifecycle.down(settings(c).sandbox_dir())
    say("sandbox API server stopped (state kept)" if stopped else "sandbox API server was not running")


@task()
@errors
def sandbox_reset(c: Context) -> None:
    """Stop the sandbox and wipe its stored cluster state."""
    from kubesandbox import lifecycle

    lifecycle.reset(settings(c).sandbox_dir())
    say("sandbox state wiped")



ns = Collection("sandbox")
ns.add_task(sandbox_up, "up")
ns.add_task(sandbox_status, "status")
ns.add_task(sandbox_down, "down")
ns.add_task(sandbox_reset, "reset")
