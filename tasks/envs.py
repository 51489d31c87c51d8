"""Tasks about environment files."""

from __future__ import annotations

from invoke import Collection, Context, task

from tasks.common import errors, say, settings

# --- environments --------------------------------------------------------------------------------------


@task()
@errors
def envs_list(c: Context) -> None:
    """List the environments and what each deploys."""
    from prjdevops.environments import known_environments
    from prjdevops.ops.session import load
    from prjdevops.output import table

    s = settings(c)
    rows = []
    for name in known_environments(s.env_dir()):
        env = load(s, name)
        rows.append([name, env.cluster.context, env.cluster.api_server or ("sandbox" if env.cluster.sandbox else ""),
                     "yes" if env.guards.confirm else "no", ", ".join(r.name for r in env.releases if r.enabled)])
    for line in table(["ENV", "CONTEXT", "API SERVER", "CONFIRM", "RELEASES"], rows):
        say(line)


@task(help={"env": "environment name (environments/<name>.yaml)"})
@errors
def envs_check(c: Context, env: str = "") -> None:
    """Validate one environment file (or all): every problem with file, key and reason."""
    from prjdevops.environments import known_environments
    from prjdevops.ops.session import load

    s = settings(c)
    for name in [env] if env else known_environments(s.env_dir()):
        e = load(s, name)
        say(f"{name}: ok ({len(e.releases)} release{'s' * (len(e.releases) != 1)}, context {e.cluster.context})")



ns = Collection("envs")
ns.add_task(envs_list, "list")
ns.add_task(envs_check, "check")
