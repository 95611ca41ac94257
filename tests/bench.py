"""`make bench`: generated topologies through the synth engine; prints resources, seconds, peak memory.

Each topology runs in a fresh child process (`python -m tests.bench --one NAME`) so that its peak
resident memory is its own. Targets (2 cores): staging under 3 s, 10 clusters x 100 services under
30 s and 2 GiB, time about linear in resources registered. Figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent

# name -> (clusters, services, consumers per service: "all" others)
TOPOLOGIES: dict[str, tuple[int, int]] = {
    "2x10": (2, 10),
    "5x50": (5, 50),
    "10x100-full-mesh": (10, 100),
    "2x2000": (2, 2000),
}
# validation only (stacks.config.parse_config, no resources): 10 clusters, N services, each consumed
# by the 9 other clusters; the time must grow linearly with N
VALIDATION_SIZES = (1000, 2500, 5000, 10000)
VALIDATION_CLUSTERS = 10
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"]


def generated_config(n_clusters: int, n_services: int) -> dict[str, Any]:
    clusters = []
    for i in range(n_clusters):
        region = REGIONS[i % len(REGIONS)]
        clusters.append(
            {
                "name": f"c{i:02d}",
                "network": f"net-{i:02d}",
                "region": region,
                "zone": f"{region}a",
                "accountId": f"{100000000000 + i:012d}",
                "labels": {"mesh": "enabled"},
                "kubernetes": {"context": f"c{i:02d}"},
                "vpc": {
                    "id": f"vpc-{i:017x}",
                    "cidr": f"10.{i}.0.0/16",
                    "subnetIds": [f"subnet-{i:08x}{j:09x}" for j in range(2)],
                },
            }
        )
    services = []
    for s in range(n_services):
        producer = f"c{s % n_clusters:02d}"
        services.append(
            {
                "name": f"svc-{s:03d}",
                "namespace": f"team-{s % 7}",
                "exportedFrom": [producer],
                "ports": [{"port": 8080, "name": "http", "protocol": "HTTP"}],
                "consumers": [
                    {"cluster": c["name"], "principals": [f"team-{s % 7}/client"]}
                    for c in clusters
                    if c["name"] != producer
                ],
            }
        )
    return {
        "config": {
            "pulumi:disable-default-providers": ["*"],
            "meshbridge:mesh": {"id": "bench"},
            "meshbridge:ca": {"keyAlgorithm": "ECDSA", "protectRoot": False},
            "meshbridge:clusters": clusters,
            "meshbridge:services": services,
        }
    }


def run_validation(services: int) -> dict[str, Any]:
    """Seconds to validate a generated config of `services` services, and to refuse it when one
    consumer in the middle names an unknown cluster (the error must not wait for the whole file)."""
    sys.path.insert(0, str(PROJECT))
    from stacks.config.load import parse_config
    from stacks.config.problems import ConfigError

    cfg = generated_config(VALIDATION_CLUSTERS, services)["config"]
    raw = {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("meshbridge:")}
    start = time.perf_counter()
    parse_config(raw, PROJECT)
    valid = time.perf_counter() - start
    raw["services"][services // 2]["consumers"][0]["cluster"] = "cluster-z"
    start = time.perf_counter()
    try:
        parse_config(raw, PROJECT)
    except ConfigError as exc:
        assert len(exc.problems) == 1, exc.problems
    else:
        raise SystemExit("the bad reference was accepted")
    refused = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "services": services,
        "seconds": round(valid, 2),
        "refused_seconds": round(refused, 2),
        "peak_mib": round(peak_kib / 1024),
    }


def run_one(name: str) -> dict[str, Any]:
    if name.startswith("validate-"):
        return run_validation(int(name.removeprefix("validate-")))
    sys.path.insert(0, str(PROJECT))
    from synth.engine import run_program

    with tempfile.TemporaryDirectory() as tmp:
        if name == "staging":
            path = PROJECT / "Pulumi.staging.yaml"
        else:
            path = Path(tmp) / "Pulumi.bench.yaml"
            path.write_text(yaml.safe_dump(generated_config(*TOPOLOGIES[name])))
        start = time.perf_counter()
        result = run_program("staging" if name == "staging" else "bench", path)
        seconds = time.perf_counter() - start
    if result.errors:
        raise SystemExit("\n".join(result.errors))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "topology": name,
        "resources": len(result.registrations),
        "seconds": round(seconds, 2),
        "peak_mib": round(peak_kib / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", help="run one topology in this process and print JSON")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    print(f"{'topology':<20} {'resources':>10} {'seconds':>8} {'s/1k res':>9} {'peak MiB':>9}")
    for name in ["staging", *TOPOLOGIES]:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.bench", "--one", name],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr}{proc.stdout}", file=sys.stderr)
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        per_k = row["seconds"] / max(row["resources"], 1) * 1000
        print(f"{name:<20} {row['resources']:>10} {row['seconds']:>8.2f} {per_k:>9.2f} {row['peak_mib']:>9}")
    print()
    print(f"{'validation':<20} {'services':>10} {'seconds':>8} {'ms/svc':>9} {'refused s':>9} {'peak MiB':>9}")
    for n in VALIDATION_SIZES:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.bench", "--one", f"validate-{n}"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"validate-{n}: failed\n{proc.stderr}{proc.stdout}", file=sys.stderr)
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        per = row["seconds"] / n * 1000
        print(
            f"{'validate-' + str(n):<20} {n:>10} {row['seconds']:>8.2f} {per:>9.3f} "
            f"{row['refused_seconds']:>9.2f} {row['peak_mib']:>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
