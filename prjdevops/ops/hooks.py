"""Running the team's hooks on the operator's machine (see ``prjdevops/hooks.py`` for what a hook is).

A hook runs as a child process with an explicit, small environment (``BASE_ENV`` plus what it names in
``pass_env`` plus ``PRJDEVOPS_*``: environment, release, namespace, revision, event, run id, the kubeconfig and
context of the environment — never the operator's current context), in the project root, within its timeout (its
whole process group is killed after it). Its output shows line by line with the hook's name, secrets redacted, and
is kept in a log file of the run. A failing hook raises :class:`HookFailed` naming the hook, its event, exit code
and its last line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prjdevops.errors import DeployError
from prjdevops.hooks import BASE_ENV, Hook
from prjdevops.model import Environment, Release
from prjdevops.ops.run import run_id

Reporter = Callable[[str], None]


class HookFailed(DeployError):
    """A hook exited non-zero or ran past its timeout."""

    def __init__(self, message: str, *, hook: Hook, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.hook = hook


@dataclass
class HookRun:
    hook: Hook
    code: int
    seconds: float
    output: list[str] = field(default_factory=list)


@dataclass
class HookRunner:
    """Runs the user hooks of one change; built-in hooks are the flow's own steps and are skipped here."""

    env: Environment
    release: Release
    redact: Callable[[str], str] = lambda s: s
    report: Reporter = lambda _: None
    run_id: str = field(default_factory=run_id)
    log_dir: Path | None = None
    runs: list[HookRun] = field(default_factory=list)

    def environ(self, hook: Hook, *, event: str, revision: int | None, extra: Mapping[str, str]) -> dict[str, str]:
        from prjdevops.adapters.kube import kubeconfig_path

        base = {k: os.environ[k] for k in (*BASE_ENV, *hook.pass_env) if k in os.environ}
        base.update({
            "PRJDEVOPS_ENVIRONMENT": self.env.name, "PRJDEVOPS_RELEASE": self.release.name,
            "PRJDEVOPS_NAMESPACE": self.release.namespace, "PRJDEVOPS_EVENT": event,
            "PRJDEVOPS_REVISION": str(revision or ""), "PRJDEVOPS_RUN_ID": self.run_id,
            "PRJDEVOPS_KUBECONFIG": str(kubeconfig_path(self.env.cluster)),
            "PRJDEVOPS_CONTEXT": self.env.cluster.context, "PRJDEVOPS_HOOK": hook.name,
        })
        base.update(extra)
        return base

    def argv(self, hook: Hook) -> list[str]:
        if hook.task:
            invoke = Path(sys.executable).parent / "invoke"
            runner = [str(invoke)] if invoke.exists() else [sys.executable, "-m", "invoke"]
            return [*runner, hook.task, "--env", self.env.name]
        return list(hook.command)

    def run(self, hooks: Sequence[Hook], *, event: str, revision: int | None = None,
            extra: Mapping[str, str] | None = None, stop_on_failure: bool = True) -> list[HookRun]:
        """Run the user hooks among ``hooks`` in order; the first failure raises (unless ``stop_on_failure`` is
        off: on-failure hooks all run and their failures are only reported)."""
        done = []
        for hook in hooks:
            if hook.builtin:
                continue
            try:
                done.append(self._one(hook, event=event, revision=revision, extra=extra or {}))
            except HookFailed as e:
                if stop_on_failure:
                    raise
                self.report(f"  hook {hook.name} ({event}) failed too: {e.message}")
        return done

    def _one(self, hook: Hook, *, event: str, revision: int | None, extra: Mapping[str, str]) -> HookRun:
        label = f"[hook {event} {hook.name}]"
        self.report(f"running hook {hook.describe()}")
        started = time.monotonic()
        try:
            proc = subprocess.Popen(self.argv(hook), cwd=self.env.root,
                                    env=self.environ(hook, event=event, revision=revision, extra=extra),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", start_new_session=True)
        except OSError as e:
            raise HookFailed(f"hook {hook.name!r} ({event}) could not start: {e.strerror or e}", hook=hook,
                             hint=f"check its command in {self.env.file.name}") from e
        lines: list[str] = []

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = self.redact(raw.rstrip("\n"))
                lines.append(line)
                self.report(f"  {label} {line}")

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=hook.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        except BaseException:  # Ctrl-C: the hook goes too, then the flow's own cancellation path
            _kill_group(proc)
            raise
        reader.join(timeout=5)
        run = HookRun(hook, proc.returncode, time.monotonic() - started, lines)
        self.runs.append(run)
        self._log(run, event)
        if timed_out:
            raise HookFailed(f"hook {hook.name!r} ({event}) ran past its timeout of {hook.timeout}s and was stopped",
                             hook=hook, hint=f"raise its timeout in {self.env.file.name} or fix what it waits for")
        if proc.returncode != 0:
            last = next((line for line in reversed(lines) if line.strip()), "no output")
            raise HookFailed(f"hook {hook.name!r} ({event}) exited {proc.returncode}: {last}", hook=hook,
                             hint=f"its output is in {self.log_file()}" if self.log_dir else None)
        self.report(f"hook {hook.name} ({event}) done in {run.seconds:.1f}s")
        return run

    def log_file(self) -> Path | None:
        return self.log_dir / f"{self.run_id}-hooks.log" if self.log_dir else None

    def _log(self, run: HookRun, event: str) -> None:
        path = self.log_file()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(f"# {event} {run.hook.name}: exit {run.code} in {run.seconds:.1f}s\n")
                f.writelines(line + "\n" for line in run.output)
            os.chmod(path, 0o600)
        except OSError:
            self.report(f"note: could not write the hook log {path}")


def _kill_group(proc: subprocess.Popen[str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def log_dir(env: Environment) -> Path:
    """Where hook output of an environment's runs is kept: ``.prjdevops/runs/<env>/`` of the project."""
    return env.root / ".prjdevops" / "runs" / env.name
