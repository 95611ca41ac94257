"""Write a SynthResult as a reviewable tree (README.md, docs/architecture.md); same input, same bytes."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import yaml

from stacks.config.exposure import privileged_class
from stacks.names import object_filename
from synth.cost import link_costs, summary_lines
from synth.engine import SECRET, Registration, SynthResult, redact, unwrap
from synth.judge import write_judge

MARKER = ".meshbridge-synth"
HELM_CHART = "meshbridge:helm:Chart"
K8S_PROVIDER = "pulumi:providers:kubernetes"


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


SECRET_TYPE = "kubernetes:core/v1:Secret"
SECRET_DATA = ("data", "stringData")


def _secret_data(obj: dict[str, Any], source: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """A Secret with its data keys kept and each value `[secret]` (the keys read from `source`, the
    unredacted object, when given: a data mapping that is one Pulumi secret keeps its keys)."""
    out = dict(obj)
    for key in SECRET_DATA:
        value = unwrap((source if source is not None else obj).get(key))
        if isinstance(value, dict):
            out[key] = {str(k): SECRET for k in sorted(value, key=str)}
        elif key in out:
            out[key] = SECRET
    return out


def redact_secrets(value: Any) -> Any:
    """`value` (already `redact`ed) with the data of every Kubernetes Secret in it replaced, however
    deeply it is nested: a `kind: List` (or any object with `items`), a Helm value, a stack output.
    A mapping is a Secret when its `kind` is `Secret`; its other fields stay readable."""
    if isinstance(value, dict):
        out = {k: redact_secrets(v) for k, v in value.items()}
        return _secret_data(out) if out.get("kind") == "Secret" else out
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def redacted_inputs(reg: Registration) -> dict[str, Any]:
    """`redact(reg.inputs)`; every Kubernetes Secret in them (the object itself, or nested in a List's
    `items` or anywhere else) keeps its data keys, each value `[secret]` (even a value that is not a
    Pulumi secret), so a reviewer sees which files a change adds or drops."""
    inputs: dict[str, Any] = redact_secrets(redact(reg.inputs))
    if reg.type == SECRET_TYPE or (reg.type.startswith("kubernetes:") and reg.inputs.get("kind") == "Secret"):
        inputs = _secret_data(inputs, reg.inputs)
    return inputs


def k8s_object(reg: Registration) -> dict[str, Any]:
    """The Kubernetes object as it would be applied: apiVersion, kind, metadata first."""
    inputs = redacted_inputs(reg)
    head: dict[str, Any] = {k: inputs.pop(k) for k in ("apiVersion", "kind", "metadata") if k in inputs}
    return {**head, **inputs}


def is_k8s_object(reg: Registration) -> bool:
    return reg.custom and reg.type.startswith("kubernetes:") and not reg.type.startswith("pulumi:providers:")


def cluster_of(result: SynthResult) -> dict[str, str]:
    """provider urn -> cluster name (the kubernetes provider's clusterIdentifier)."""
    return {r.urn: str(r.inputs.get("clusterIdentifier")) for r in result.registrations if r.type == K8S_PROVIDER}


def registration_cluster(reg: Registration, providers: dict[str, str]) -> Optional[str]:
    urn = reg.provider or reg.providers.get("kubernetes", "")
    return providers.get(urn)


def resource_entry(reg: Registration) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "urn": reg.urn,
        "type": reg.type,
        "name": reg.name,
        "parent": reg.parent,
        "provider": reg.provider or None,
        "dependencies": reg.dependencies,
        "inputs": redacted_inputs(reg),
    }
    if reg.aliases:
        entry["aliases"] = reg.aliases
    if reg.providers:
        entry["providers"] = dict(sorted(reg.providers.items()))
    if reg.protect:
        entry["protect"] = True
    if reg.delete_before_replace:
        entry["deleteBeforeReplace"] = True
    if reg.replace_on_changes:
        entry["replaceOnChanges"] = reg.replace_on_changes
    if reg.retain_on_delete:
        entry["retainOnDelete"] = True
    if reg.transforms:
        entry["transforms"] = reg.transforms
    if reg.additional_secret_outputs:
        entry["additionalSecretOutputs"] = reg.additional_secret_outputs
    if reg.read:
        entry["read"] = True
    if not reg.custom:
        entry["component"] = True
    return entry


def k8s_objects(result: SynthResult) -> dict[str, dict[str, dict[str, Any]]]:
    """cluster -> file name -> object."""
    providers = cluster_of(result)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for reg in result.registrations:
        if is_k8s_object(reg):
            cluster = registration_cluster(reg, providers) or "_unknown"
            obj = k8s_object(reg)
            out.setdefault(cluster, {})[object_filename(obj)] = obj
    return out


def helm_releases(result: SynthResult) -> dict[str, dict[str, dict[str, Any]]]:
    providers = cluster_of(result)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for reg in result.by_type(HELM_CHART):
        cluster = registration_cluster(reg, providers) or "_unknown"
        inputs = redact_secrets(redact(reg.inputs))
        # `chart` is a name with a repository, or a path (oci:// registry, local chart folder)
        chart = str(inputs.get("chart") or "")
        source = (inputs.get("repositoryOpts") or {}).get("repo") or (chart.rpartition("/")[0] or None)
        release = {
            "release": inputs.get("name", reg.name),
            "namespace": inputs.get("namespace"),
            "chart": chart.rstrip("/").rpartition("/")[2],
            "version": inputs.get("version"),
            "repository": source,
            "values": inputs.get("values", {}),
            "dependsOn": reg.dependencies,
        }
        # a release that keeps part of its chart (components/helm.py): `Kind/name` of the objects;
        # the Kubernetes version a chart is rendered for, when the program sets one
        for part in ("only", "omit", "kubeVersion"):
            if inputs.get(part):
                release[part] = inputs[part]
        out.setdefault(cluster, {})[f"{release['release']}.yaml"] = release
    return out


def topology(outputs: dict[str, Any]) -> str:
    """Mermaid picture: clusters, their gateways, the private links and the service flows."""
    clusters: dict[str, Any] = redact(outputs.get("clusters") or {})
    mode = (outputs.get("mesh") or {}).get("connectivity", "privatelink")
    ident = lambda s: re.sub(r"[^A-Za-z0-9_]", "_", s)  # noqa: E731
    lines = ["flowchart LR"]
    for name, c in clusters.items():
        lines.append(f'  subgraph {ident(name)}["{name} ({c.get("region")}, {c.get("network")})"]')
        lines.append(f'    {ident(name)}_mesh(["workloads"])')
        if c.get("exportedHosts"):
            front = "LoadBalancer Service" if mode == "local" else "internal NLB"
            lines.append(f'    {ident(name)}_gw["east-west gateway :15443<br/>{front}"]')
        lines.append("  end")
    link = {"privatelink": "PrivateLink endpoint", "local": "local network"}.get(mode, "routed (NLB DNS)")
    for consumer, c in clusters.items():
        flows: dict[str, list[str]] = {}
        for host, producers in (c.get("importedHosts") or {}).items():
            for producer in producers:
                if producer != consumer:
                    flows.setdefault(producer, []).append(host)
        for producer, hosts in sorted(flows.items()):
            label = f"{link}<br/>" + "<br/>".join(sorted(hosts))
            lines.append(f'  {ident(consumer)}_mesh -- "{label}" --> {ident(producer)}_gw')
    return "\n".join(lines) + "\n"


def expiry_summary(result: SynthResult) -> list[str]:
    """When each intermediate CA expires (`${...}` until the tls provider issues it), its validity and
    its early renewal window (docs/runbook.md, "Intermediate renewal")."""
    lines = []
    for reg in result.registrations:
        if reg.type != "tls:index/locallySignedCert:LocallySignedCert":
            continue
        inputs = redact(reg.inputs)
        end = redact(reg.state).get("validityEndTime")
        lines.append(
            f"    {reg.name}: expires {end} (valid {inputs.get('validityPeriodHours')} h, re-issued by the first "
            f"`pulumi up` within {inputs.get('earlyRenewalHours', 0)} h of it)"
        )
    if lines:
        lines.insert(0, "  intermediate CAs (the outputs' clusters.<c>.intermediateExpires):")
    return lines


def summary(result: SynthResult, out: Optional[Path]) -> str:
    lines = [f"meshbridge synth: stack {result.stack} ({result.config_file})"]
    if result.errors:
        lines.append("configuration errors:")
        lines.extend(f"  {e}" for e in result.errors)
        return "\n".join(lines) + "\n"
    custom = [r for r in result.registrations if r.custom]
    lines.append(f"  resources registered: {len(result.registrations)} ({len(custom)} custom)")
    counts = Counter(r.type for r in result.registrations)
    for typ, n in sorted(counts.items()):
        lines.append(f"    {n:4d}  {typ}")
    objs = k8s_objects(result)
    helm = helm_releases(result)
    for cluster in sorted(set(objs) | set(helm)):
        releases = ", ".join(sorted(h.removesuffix(".yaml") for h in helm.get(cluster, {}))) or "-"
        lines.append(f"  {cluster}: {len(objs.get(cluster, {}))} Kubernetes objects, helm: {releases}")
    lines.extend(authorization_summary(objs))
    lines.extend(privileged_summary(objs))
    lines.extend(expiry_summary(result))
    lines.extend(summary_lines(link_costs([resource_entry(r) for r in result.registrations])))
    if out is not None:
        lines.append(f"  written to {out}")
    return "\n".join(lines) + "\n"


def _admits(rule: dict[str, Any]) -> str:
    """One ALLOW rule in words: its sources, then the operations it is limited to."""
    who: list[str] = []
    for src in rule.get("from") or [{}]:
        source = src.get("source") or {}
        who.extend(str(p) for p in source.get("principals") or [])
        who.extend(f"every workload of namespace {ns}" for ns in source.get("namespaces") or [])
        if source.get("notPrincipals"):
            who.append("except " + ", ".join(str(p) for p in source["notPrincipals"]))
    ops: list[str] = []
    for to in rule.get("to") or []:
        operation = to.get("operation") or {}
        ops.extend(
            f"{k} {', '.join(str(v) for v in operation[k])}" for k in ("methods", "paths", "ports") if k in operation
        )
    return f"{', '.join(who) or 'anyone'} ({'; '.join(ops) or 'everything'})"


def authorization_summary(objs: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """What every meshbridge AuthorizationPolicy admits (anything it does not list is denied)."""
    lines: list[str] = []
    for cluster in sorted(objs):
        for obj in objs[cluster].values():
            meta = obj.get("metadata") or {}
            if obj.get("kind") != "AuthorizationPolicy" or not isinstance(meta, dict):
                continue
            # meshbridge's own policies, and the distributed ones (stacks/config/strict.py refuses a distributed
            # ALLOW on an exported workload; a DENY elsewhere is listed so the summary is complete)
            origin = "" if str(meta.get("name", "")).startswith("meshbridge-") else " (distributed)"
            spec = obj.get("spec") or {}
            admitted = "; ".join(_admits(r) for r in spec.get("rules") or []) or "nobody"
            action = spec.get("action", "ALLOW")
            lines.append(f"    {cluster} {meta.get('namespace')}/{meta.get('name')}{origin} {action}: {admitted}")
    if lines:
        lines.insert(0, "  authorization (who may call each exported workload; anyone else is denied):")
    return lines


def privileged_summary(objs: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Every binding to cluster-admin, admission webhook and kube-system object of the tree (each
    distributed one was acknowledged in its `distribute` entry, stacks/config/exposure.py)."""
    lines = [
        f"    {cluster} {fname.removesuffix('.yaml')}: {found[1]} (acknowledge {found[0]})"
        for cluster in sorted(objs)
        for fname, obj in sorted(objs[cluster].items())
        if (found := privileged_class(obj))
    ]
    if lines:
        lines.insert(0, "  privileged objects (acknowledged in meshbridge:distribute[].acknowledge):")
    return lines


def write_tree(result: SynthResult, out: Path) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise SystemExit(f"synth: refusing to overwrite {out}: not a synth output directory (no {MARKER})")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by `python -m synth`; the whole directory is replaced on each run\n")
    resources = [resource_entry(r) for r in result.registrations]
    (out / "resources.json").write_text(json.dumps(resources, indent=2, sort_keys=True) + "\n")
    outputs = redact_secrets(redact(result.outputs))
    (out / "outputs.json").write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    for cluster, files in k8s_objects(result).items():
        for fname, obj in files.items():
            path = out / "clusters" / cluster / fname
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_yaml(obj))
    for cluster, files in helm_releases(result).items():
        for fname, rel in files.items():
            path = out / "clusters" / cluster / "helm" / fname
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_yaml(rel))
    (out / "cost.json").write_text(json.dumps(link_costs(resources).as_json(), indent=2, sort_keys=True) + "\n")
    (out / "topology.mmd").write_text(topology(result.outputs))
    (out / "summary.txt").write_text(summary(result, None))
    write_judge(result, out)
