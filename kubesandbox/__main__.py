"""CLI: ``python -m kubesandbox serve --port 6550 --state PATH [--kubeconfig PATH]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from kubesandbox.errors import SandboxError

from .sandbox import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubesandbox",
                                     description="Kubernetes API emulator on loopback.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve until SIGTERM/SIGINT (state is saved on exit)")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=6550)
    serve.add_argument("--state", type=Path, default=None, help="state file (JSON), loaded and saved")
    serve.add_argument("--kubeconfig", type=Path, default=None, help="write a kubeconfig here once serving")
    serve.add_argument("--context", default="sandbox")
    serve.add_argument("--no-controllers", action="store_true", help="start with every controller off")
    serve.add_argument("--pod-ready-delay", type=float, default=0.2)
    serve.add_argument("--lb-pool", default=None,
                       help="CIDR for LoadBalancer IPs when no MetalLB IPAddressPool exists (default: none, <pending>)")
    serve.add_argument("--probe-time-scale", type=float, default=0.01,
                       help="readiness/startup probe initialDelaySeconds are multiplied by this (default 0.01)")
    serve.add_argument("--ssa-conflicts", action=argparse.BooleanOptionalAction, default=True,
                       help="refuse server-side applies that change fields another manager owns (409; default on)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sb = Sandbox(port=args.port, state_file=args.state, controllers=not args.no_controllers,
                     pod_ready_delay=args.pod_ready_delay, lb_pool=args.lb_pool, host=args.host,
                     probe_time_scale=args.probe_time_scale,
                     ssa_conflicts=args.ssa_conflicts).start()
    except SandboxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.kubeconfig is not None:
        sb.write_kubeconfig(args.kubeconfig, context=args.context)
    print(f"sandbox serving on {sb.url}", flush=True)
    done.wait()
    sb.stop()
    print("sandbox stopped, state saved", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
