"""Issue 29 ("Hostile inputs, round 2"): one test per class of input that rendered something
dangerous, or that only the Istio judge refused, or that ended in a traceback.

A refused configuration is what a user sees: synth stops with exit code 2 (here: `result.errors`),
one line per problem starting with the key path, no traceback, and nothing registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks.config import LINE_LIMIT
from synth.engine import SynthResult
from tests.conftest import Mutation, all_of, run_variant, set_at

C, S, D, M = "meshbridge:clusters", "meshbridge:services", "meshbridge:distribute", "meshbridge:mesh"


def refused(tmp_path: Path, mutate: Mutation, prefix: str, stack: str = "staging") -> list[str]:
    result = run_variant(tmp_path, mutate, stack)
    assert result.errors, "the mistake was accepted"
    assert any(line.startswith(prefix) for line in result.errors), result.errors
    for line in result.errors:
        assert "\n" not in line and len(line) <= LINE_LIMIT, line
    assert result.registrations == [], "resources were registered before the configuration was refused"
    return result.errors


def accepted(tmp_path: Path, mutate: Mutation, stack: str = "staging") -> SynthResult:
    result = run_variant(tmp_path, mutate, stack)
    assert result.ok, result.errors
    return result


def distribute(*objects: dict[str, Any], name: str = "extra", **entry: Any) -> Mutation:
    """Add a distribute entry with these objects, selecting every cluster of the stack."""

    def mutate(cfg: dict[str, Any]) -> None:
        cfg.setdefault(D, []).append(
            {"name": name, "clusterSelector": {"mesh": "enabled"}, "manifests": list(objects), **entry}
        )

    return mutate


# --------------------------------------------------------------------------------- partitions


def test_the_deployer_role_is_in_the_partition_of_every_cluster(tmp_path: Path) -> None:
    """The deployer role is the endpoint services' principal for a consumer without assumeRoleArn:
    a role of another partition would name somebody else's account there."""
    refused(
        tmp_path,
        all_of(
            set_at(["meshbridge:aws", "deployerRoleArn"], "arn:aws-cn:iam::999999999999:role/deployer"),
        ),
        "meshbridge:aws.deployerRoleArn: clusters[0] (us-east-1) is in partition aws, the deployer",
    )


def test_clusters_of_one_stack_are_in_one_partition_even_without_a_link(tmp_path: Path) -> None:
    """Routed or unlinked: one `pulumi up` has credentials of one partition."""
    third = {
        "name": "cluster-c",
        "network": "network-c",
        "region": "us-gov-west-1",
        "accountId": "333333333333",
        "labels": {"other": "x"},
        "kubernetes": {"context": "cluster-c"},
        "vpc": {"id": "vpc-0a1b2c3d4e5f60003", "cidr": "10.30.0.0/16", "subnetIds": ["subnet-0a1b2c3d4e5f60031"]},
        "aws": {"assumeRoleArn": "arn:aws-us-gov:iam::333333333333:role/mesh-deployer"},
    }

    def add(cfg: dict[str, Any]) -> None:
        cfg[C].append(third)
        cfg[M]["connectivity"] = "routed"

    refused(tmp_path, add, "meshbridge:clusters[2].region: clusters[2] (us-gov-west-1) is in partition aws-us-gov")
