"""Cost of field ownership on the write path: server-side applies of a Deployment (20 env entries), API level.

Run: ``.venv/bin/python bench/managed_fields.py [--writes 200] [--rounds 5]``. Each write changes the image, so
every apply computes the next ``metadata.managedFields`` (reads serve the stored bytes and pay nothing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kubesandbox import Sandbox

APPLY = "application/apply-patch+yaml"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
                  "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                      {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}],
                       "env": [{"name": f"E{i}", "value": str(i)} for i in range(20)]}]}}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with Sandbox(port=0) as sb:
        rt = sb.api.rt("apps", "v1", "deployments")
        sb.api.patch(rt, "default", "web", APPLY, json.loads(json.dumps(DEPLOYMENT)), field_manager="helm")
        per_write = []
        for _ in range(args.rounds):
            began = time.perf_counter()
            for i in range(args.writes):
                body = json.loads(json.dumps(DEPLOYMENT))
                body["spec"]["template"]["spec"]["containers"][0]["image"] = f"nginx:{i % 2}"
                sb.api.patch(rt, "default", "web", APPLY, body, field_manager="helm")
            per_write.append((time.perf_counter() - began) / args.writes * 1000)
    print(f"apply of a 20-env Deployment (api level, image changed each time), {args.rounds}x{args.writes} writes: "
          f"min {min(per_write):.2f} ms, median {statistics.median(per_write):.2f} ms per write")


if __name__ == "__main__":
    main()
