"""The stack configuration of meshbridge: one import for the model, the checks and the loading.

- `stacks/config_model.py`: the typed model (one pydantic class per `meshbridge:*` section, `MeshConfig`);
- `stacks/config_checks.py`: the checks that need several values at once, one function per section;
- `stacks/strict.py`: the fail-closed checks of what would be applied (trafficPolicy, ownership);
- `stacks/config_load.py`: reading the stack and running all of the above (`load_stack_config`,
  `parse_config`);
- `stacks/problems.py`: how a problem is written (`ConfigError`, one line starting with its key path).

Every key is documented in docs/configuration.md. The modules above import each other in that order
(model <- checks <- loading) and never this one, which only re-exports their public names.
"""

from __future__ import annotations

from stacks.config_checks import (
    ca_problems,
    check_manifest,
    cluster_problems,
    cross_checks,
    distribute_problems,
    name_collisions,
    service_problems,
)
from stacks.config_load import TOP_LEVEL_KEYS, is_secret_key, load_stack_config, parse_config, read_raw_config
from stacks.config_model import (
    ACCOUNT_RE,
    DNS_1035_RE,
    DNS_LABEL_RE,
    DNS_NAME_RE,
    HTTP_METHODS,
    HTTP_PROTOCOLS,
    LABEL_KEY_RE,
    LABEL_VALUE_RE,
    LOCAL_TWIN_SUFFIX,
    MAX_PATTERN_INPUT,
    MAX_TLS_HOURS,
    PROTOCOLS,
    REGION_RE,
    AwsSettings,
    CaSettings,
    ClusterSpec,
    ConsumerSpec,
    DistributeSpec,
    InfraStack,
    InfraStackOutputs,
    IstioSettings,
    KubernetesAccess,
    LocalCallers,
    MeshConfig,
    MeshSettings,
    Model,
    PerPod,
    PortSpec,
    RootSpec,
    ServiceSpec,
    VpcSettings,
    cidr_problem,
    label_problem,
    repository_problem,
)
from stacks.problems import LINE_LIMIT, NAMESPACE, SHOW_LIMIT, ConfigError, key_path, one_line, show

__all__ = [
    "ACCOUNT_RE",
    "DNS_1035_RE",
    "DNS_LABEL_RE",
    "DNS_NAME_RE",
    "HTTP_METHODS",
    "HTTP_PROTOCOLS",
    "LABEL_KEY_RE",
    "LABEL_VALUE_RE",
    "LINE_LIMIT",
    "LOCAL_TWIN_SUFFIX",
    "MAX_PATTERN_INPUT",
    "MAX_TLS_HOURS",
    "NAMESPACE",
    "PROTOCOLS",
    "REGION_RE",
    "SHOW_LIMIT",
    "TOP_LEVEL_KEYS",
    "AwsSettings",
    "CaSettings",
    "ClusterSpec",
    "ConfigError",
    "ConsumerSpec",
    "DistributeSpec",
    "InfraStack",
    "InfraStackOutputs",
    "IstioSettings",
    "KubernetesAccess",
    "LocalCallers",
    "MeshConfig",
    "MeshSettings",
    "Model",
    "PerPod",
    "PortSpec",
    "RootSpec",
    "ServiceSpec",
    "VpcSettings",
    "ca_problems",
    "check_manifest",
    "cidr_problem",
    "cluster_problems",
    "cross_checks",
    "distribute_problems",
    "is_secret_key",
    "key_path",
    "label_problem",
    "load_stack_config",
    "name_collisions",
    "one_line",
    "parse_config",
    "read_raw_config",
    "repository_problem",
    "service_problems",
    "show",
]
