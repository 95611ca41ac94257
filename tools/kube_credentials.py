"""Kube contexts for a stack's clusters, created before `pulumi up`/`preview` (deploy and preview workflows).

    .venv/bin/python tools/kube_credentials.py --stack staging [--dry-run] [--config-file FILE]

A cluster with `kubernetes.context` gets a Kubernetes provider with that context and no kubeconfig:
the context must exist where Pulumi runs. For each such cluster this runs

    aws eks update-kubeconfig --name <eksCluster> --region <region> --alias <context> [--role-arn <role>]

with eksCluster = `kubernetes.eksCluster` (default: the cluster's name) and role = the cluster's
`aws.assumeRoleArn`, else none: the ambient credentials are the deployer role itself (passing it as
`--role-arn` would make the role assume itself, which its trust policy would have to allow). The
role used needs an EKS access entry on the cluster (docs/runbook.md, "Deploy credentials").
`--dry-run` prints the commands, shell-quoted, one per line, instead.

Clusters whose kubeconfig comes from `kubernetes.kubeconfig` or `infraStack.outputs.kubeconfig` need
nothing here: the program hands that kubeconfig to the provider. Clusters with
`kubernetes.renderYamlToDirectory` reach no cluster, and `local` connectivity has no EKS (kind and k3d
create their own contexts). A configuration mistake prints one line per problem and exits 2.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.config.load import TOP_LEVEL_KEYS, parse_config
from stacks.config.model import MeshConfig
from stacks.config.problems import ConfigError
from synth.engine import PROJECT, PROJECT_DIR, read_stack_file


def load_config(path: Path, project_dir: Path = PROJECT_DIR) -> MeshConfig:
    """The validated configuration of a stack file (raises ConfigError), as the program would read it."""
    values, _ = read_stack_file(path)
    raw: dict[str, Any] = {}
    extra: list[str] = []
    for key, text in values.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT or text.strip() in ("", "null"):
            continue
        if name not in TOP_LEVEL_KEYS:
            extra.append(name)
            continue
        try:
            raw[name] = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raw[name] = text  # the model refuses it with its key path
    return parse_config(raw, project_dir, tuple(sorted(extra)))


def commands(cfg: MeshConfig) -> list[list[str]]:
    """One `aws eks update-kubeconfig` per cluster reached through a named kube context."""
    if cfg.mesh.connectivity == "local":
        return []
    result: list[list[str]] = []
    for c in cfg.clusters:
        k = c.kubernetes
        if k.context is None or k.render_yaml_to_directory is not None:
            continue
        cmd = ["aws", "eks", "update-kubeconfig", "--name", k.eks_cluster or c.name]
        cmd += ["--region", c.region, "--alias", k.context]
        if c.aws.assume_role_arn:
            cmd += ["--role-arn", c.aws.assume_role_arn]
        result.append(cmd)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="the stack: reads Pulumi.<stack>.yaml")
    parser.add_argument("--config-file", type=Path, help="another stack file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config_file or PROJECT_DIR / f"Pulumi.{args.stack}.yaml")
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    for cmd in commands(cfg):
        print(shlex.join(cmd), flush=True)
        if args.dry_run:
            continue
        try:
            code = subprocess.run(cmd, check=False).returncode
        except FileNotFoundError:
            print(f"kube_credentials: {cmd[0]} not found (the AWS CLI is required)", file=sys.stderr)
            return 1
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
