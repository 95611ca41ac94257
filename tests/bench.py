"""`make bench`: generated topologies through the synth engine; prints resources, seconds, peak memory;
then the Istio judge on the generated meshes: judge seconds, paths, seconds per path, peak memory.

Each topology runs in a fresh child process (`python -m tests.bench --one NAME`) so that its peak
resident memory is its own; the judge (`--judge NAME`) runs on the tree synth writes for it, as
`synth --check` runs it, and its peak is the judge process's own. Targets (2 cores): staging under
3 s, 10 clusters x 100 services under 30 s and 2 GiB, time about linear in resources registered;
the judge: 10 x 100 under 20 s, 20 x 200 under 60 s and 2 GiB, 2 x 2,000 services and one service
of 1,000 per-pod replicas each under 60 s, the seconds per path about constant as the mesh grows.
Figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
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
# the judge's topologies: name -> (clusters, services, per-pod replicas of the one service of
# "replicas-1000"); the cost per path must stay about constant from 2 to 20 clusters
JUDGED: dict[str, tuple[int, int, int]] = {
    "2x10": (2, 10, 0),
    "5x50": (5, 50, 0),
    "10x100-full-mesh": (10, 100, 0),
    "20x200-full-mesh": (20, 200, 0),
    "2x2000": (2, 2000, 0),
    "replicas-1000": (2, 1, 1000),
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
                "aws": {"assumeRoleArn": f"arn:aws:iam::{100000000000 + i:012d}:role/mesh-deployer"},
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
            "meshbridge:aws": {"deployerAccountId": "999999999999"},
            "meshbridge:ca": {"keyAlgorithm": "ECDSA", "protectRoot": False},
            "meshbridge:clusters": clusters,
            "meshbridge:services": services,
        }
    }


def judged_config(name: str) -> dict[str, Any]:
    """The generated configuration the judge benchmark renders for `name` (JUDGED)."""
    clusters, services, replicas = JUDGED[name]
    doc = generated_config(clusters, services)
    if replicas:
        (svc,) = doc["config"]["meshbridge:services"]
        svc.update(
            ports=[{"port": 3306, "name": "mysql", "protocol": "TCP"}],
            perPod={"replicas": replicas, "aliasPrefix": "src-"},
        )
    return doc


def run_judge(name: str) -> dict[str, Any]:
    """Synth writes the tree of `name`, then the judge runs on it as `synth --check` runs it: its
    wall seconds, the paths it computed, and its own peak resident memory (the child's rusage)."""
    sys.path.insert(0, str(PROJECT))
    from synth.engine import run_program
    from synth.render import write_tree
    from synth.verify import judge_binary, judge_env

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.bench.yaml"
        path.write_text(yaml.safe_dump(judged_config(name)))
        result = run_program("bench", path)
        if result.errors:
            raise SystemExit("\n".join(result.errors))
        out = Path(tmp) / "tree"
        write_tree(result, out)
        binary = judge_binary()
        with open(Path(tmp) / "report", "w+") as report:
            start = time.perf_counter()
            child = subprocess.Popen(
                [str(binary), "judge", str(out)], stdout=report, stderr=subprocess.STDOUT, env=judge_env(out)
            )
            # the judge's own rusage (not that of the build check before it)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - start
            child.returncode = os.waitstatus_to_exitcode(status)
            report.seek(0)
            stdout = report.read()
    verdict = next((line for line in stdout.splitlines() if line.startswith("istio judge:")), "")
    if child.returncode != 0 or not verdict:
        raise SystemExit(f"the judge failed on {name}:\n{stdout[-4000:]}")
    paths = int(verdict.split()[2])  # "istio judge: N of N declared paths ..."
    return {
        "topology": name,
        "paths": paths,
        "seconds": round(seconds, 2),
        "peak_mib": round(usage.ru_maxrss / 1024),
        "verdict": verdict,
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
    parser.add_argument("--judge", help="judge one topology (JUDGED) from this process and print JSON")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    if args.judge:
        print(json.dumps(run_judge(args.judge)))
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
    print()
    print(f"{'judge':<20} {'paths':>10} {'seconds':>8} {'s/path':>9} {'peak MiB':>9}")
    for name in JUDGED:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.bench", "--judge", name],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"judge {name}: failed\n{proc.stderr}{proc.stdout}", file=sys.stderr)
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        per = row["seconds"] / max(row["paths"], 1)
        print(f"{name:<20} {row['paths']:>10} {row['seconds']:>8.2f} {per:>9.3f} {row['peak_mib']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
