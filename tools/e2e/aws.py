"""make e2e, the AWS phase (docs/e2e.md, "The AWS phase"): the deployed stack files through the real
engine, with AWS emulated by moto.

A moto server (PyPI `moto[server]`, requirements-dev.txt) runs on 127.0.0.1; the AWS provider of the
e2e (tools/aws: `pulumi-resource-aws`, a gRPC provider that makes pulumi-aws' AWS calls with boto3
against that server) is first on PATH; the stacks' state is in an S3 bucket on the same moto. For
each of `Pulumi.staging.yaml`, `Pulumi.production.yaml` and the routed variant (staging with
`mesh.connectivity: routed`):

1. one API server per cluster (meshbridge-apiserver, with the AWS Load Balancer Controller's
   TargetGroupBinding CRD) and one infra stack per cluster (tools/e2e/aws_infra: the cluster's VPC
   and private subnets in its account, reached through its deployer role, and region; its kubeconfig);
2. the stack file changed only where a real account's facts are needed: each cluster's VPC, CIDR,
   subnets and kubeconfig come from its infra stack (`infraStack`), Istio's charts from the judge's
   module (`mesh.istio.chartDirectory`); everything else is the file as users deploy it;
3. `pulumi preview` (creates as many resources as synth registers), `pulumi up`, the read-back of
   what moto holds (`check_aws`), a second `up` that must change nothing (`--expect-no-changes`) and
   `pulumi destroy --exclude-protected` (the protected root CA stays), after which moto holds no
   load balancer, target group, endpoint service, endpoint or security group of ours.

It ends with `e2e aws: staging up N (moto), second up 0 changes, destroy ok; production ...`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import run as e2e
import yaml
from kube import ApiServer, wait_until
from run import E2eError, Env, expect

from stacks.config.load import parse_config
from stacks.network import endpoint_principal_role

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("staging", "production", "routed")
# a stack of the e2e that is a stack file with other mesh settings: name -> (file, mesh settings)
VARIANTS = {"routed": ("staging", {"connectivity": "routed"})}
INFRA_PROJECT = "meshbridge-e2e-aws-infra"
# the mesh stack's keys -> the infra stack's output names (as a platform stack names them)
INFRA_OUTPUTS = {"vpcId": "vpcId", "vpcCidr": "vpcCidr", "subnetIds": "privateSubnetIds", "kubeconfig": "kubeconfig"}
TGB_CRD = "aws-load-balancer-controller/v3.5.0/targetgroupbindings.crd.yaml"
OPEN = ("0.0.0.0/0", "::/0")
# a default tag of every AWS provider of the program (components/cluster.py)
CLUSTER_TAG = "meshbridge:cluster"
STATE_BUCKET = "meshbridge-state"


def shared_dir() -> Path:
    return Path(os.environ.get("MESHBRIDGE_SHARED") or ROOT.parent / "shared")


class Moto:
    """moto's server on 127.0.0.1, with the deploy workflow's identity: an IAM user of the stacks'
    deployer account (`meshbridge:aws.deployerAccountId`) whose access key the e2e deploys with; it
    reaches each cluster's account through that cluster's deployer role (AssumeRole), as in CI."""

    def __init__(self, folder: Path, account: str) -> None:
        self.folder = folder
        self.account = account
        self.credentials: dict[str, str] = {}
        self.process: subprocess.Popen[str] | None = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "moto.log").open("a")
        # (no MOTO_ACCOUNT_ID: it would put every request in that account, assumed roles included)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, text=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            self.stop()
            raise E2eError(f"moto did not start (see {self.folder / 'moto.log'})")
        self.credentials = self.deployer()

    def deployer(self) -> dict[str, str]:
        """An IAM user with an access key in the deployer account (moto's account header picks the
        account of the request that creates it; moto then finds the account by the key)."""
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )

        def in_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = self.account

        iam.meta.events.register("before-sign.iam.*", in_account)
        iam.create_user(UserName="meshbridge-deployer")
        key = iam.create_access_key(UserName="meshbridge-deployer")["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class Aws:
    """boto3 clients on moto, in an account (through its deployer role, as the program reaches it)."""

    def __init__(self, moto: Moto) -> None:
        self.moto = moto

    def client(self, service: str, region: str, role: str | None = None) -> Any:
        kw: dict[str, Any] = {"endpoint_url": self.moto.url, "region_name": region}
        creds = {
            "aws_access_key_id": self.moto.credentials["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.moto.credentials["AWS_SECRET_ACCESS_KEY"],
        }
        if role:
            sts = boto3.client("sts", **kw, **creds)
            c = sts.assume_role(RoleArn=role, RoleSessionName="e2e-read-back")["Credentials"]
            creds = {
                "aws_access_key_id": c["AccessKeyId"],
                "aws_secret_access_key": c["SecretAccessKey"],
                "aws_session_token": c["SessionToken"],
            }
        return boto3.client(service, **kw, **creds)


def aws_stack(doc: dict[str, Any], stack: str, charts: Path) -> dict[str, Any]:
    """The stack file with a real account's facts from the infra stacks: VPC, CIDR, subnets and
    kubeconfig per cluster; Istio's charts from the judge's module. Nothing else changes."""
    doc = copy.deepcopy(doc)
    cfg = doc["config"]
    istio = cfg["meshbridge:mesh"]["istio"]
    cfg["meshbridge:mesh"]["istio"] = {"version": istio["version"], "chartDirectory": str(charts)}
    for c in cfg["meshbridge:clusters"]:
        c.pop("vpc", None)
        c["kubernetes"] = {}
        c["infraStack"] = {
            "name": f"organization/{INFRA_PROJECT}/{stack}-{c['name']}",
            "outputs": INFRA_OUTPUTS,
        }
    return doc


# the "adding a consumer cluster" change, per stack file: a cluster in a third account and region
# that consumes one more service (its name, its cluster entry, the consumer entry it adds)
ADDED = {
    "staging": (
        "backend-api",
        {
            "name": "cluster-c",
            "network": "network-c",
            "region": "eu-west-1",
            "zone": "eu-west-1a",
            "accountId": "666666666666",
            "labels": {"mesh": "enabled"},
            "aws": {"assumeRoleArn": "arn:aws:iam::666666666666:role/mesh-deployer"},
        },
        {"cluster": "cluster-c", "principals": ["default/reporter"], "methods": ["GET"]},
    )
}
# what the addition may not replace or delete: the producers' links
LINKS = (
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:ec2/vpcEndpointService:VpcEndpointService",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
)


def stack_file(stack: str) -> dict[str, Any]:
    """Pulumi.STACK.yaml, or a variant's file with its mesh settings (`VARIANTS`)."""
    base, mesh = VARIANTS.get(stack, (stack, {}))
    doc: dict[str, Any] = yaml.safe_load((ROOT / f"Pulumi.{base}.yaml").read_text())
    doc["config"]["meshbridge:mesh"].update(mesh)
    return doc


def with_consumer(doc: dict[str, Any], stack: str) -> dict[str, Any]:
    service, cluster, consumer = ADDED[stack]
    doc = copy.deepcopy(doc)
    cfg = doc["config"]
    cfg["meshbridge:clusters"].append(copy.deepcopy(cluster))
    next(s for s in cfg["meshbridge:services"] if s["name"] == service)["consumers"].append(consumer)
    return doc


def cidr_of(cluster: dict[str, Any], index: int) -> str:
    return str((cluster.get("vpc") or {}).get("cidr") or f"10.{100 + index}.0.0/16")


def infra(env: Env, work: Path, stack: str, doc: dict[str, Any], servers: dict[str, ApiServer]) -> dict[str, Any]:
    """An infra stack per cluster (VPC, subnets, kubeconfig); returns cluster -> its outputs."""
    folder = work / "aws-infra"
    if not folder.exists():
        shutil.copytree(ROOT / "tools/e2e/aws_infra", folder, ignore=shutil.ignore_patterns("__pycache__"))
    found: dict[str, Any] = {}
    for i, c in enumerate(doc["config"]["meshbridge:clusters"]):
        name = f"{stack}-{c['name']}"
        env.pulumi(folder, "stack", "init", name)
        settings = {
            "region": c["region"],
            "accountId": c["accountId"],
            "roleArn": c["aws"]["assumeRoleArn"],
            "cidr": cidr_of(c, i),
        }
        for k, v in settings.items():
            env.pulumi(folder, "config", "set", k, v, "--stack", name)
        text = servers[c["name"]].kubeconfig_text()
        env.pulumi(folder, "config", "set", "--secret", "kubeconfig", text, "--stack", name)
        env.pulumi(folder, "up", "--yes", "--skip-preview", "--stack", name, program=True)
        found[c["name"]] = json.loads(env.pulumi(folder, "stack", "output", "--json", "--stack", name))
    return found


def install_tgb_crd(servers: dict[str, ApiServer]) -> None:
    crd = yaml.safe_load((shared_dir() / TGB_CRD).read_text())
    for server in servers.values():
        code, body = server.client().create(crd)
        expect(code in (200, 201, 409), f"{server.cluster}: the TargetGroupBinding CRD was refused ({code}): {body}")
    for server in servers.values():
        wait_until(
            f"{server.cluster}: TargetGroupBinding CRD established",
            lambda s=server: established(s),
            timeout=60,
        )


def established(server: ApiServer) -> bool:
    crd = server.client().get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "targetgroupbindings.elbv2.k8s.aws"
    )
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd or {}).get("status", {}).get("conditions", [])
    )


# ------------------------------------------------------------------------------- read-back


def admitted(doc: dict[str, Any]) -> dict[str, list[str]]:
    """producer -> the principals its endpoint service must admit, from the configuration as the
    program reads it: each consumer's role (or its account root), nothing else."""
    raw = {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("meshbridge:")}
    cfg = parse_config(raw, ROOT)
    found: dict[str, set[str]] = {}
    for consumer, producer in cfg.pairs():
        account = cfg.cluster(consumer).account_id
        principal = endpoint_principal_role(cfg, consumer) or f"arn:aws:iam::{account}:root"
        found.setdefault(producer, set()).add(principal)
    return {p: sorted(v) for p, v in found.items()}


def check_aws(aws: Aws, doc: dict[str, Any], nets: dict[str, Any], servers: dict[str, ApiServer]) -> str:
    """What moto holds after `up`, against the configuration (docs/e2e.md, "The AWS phase")."""
    clusters = {c["name"]: c for c in doc["config"]["meshbridge:clusters"]}
    role = {n: c["aws"]["assumeRoleArn"] for n, c in clusters.items()}
    principals_of = admitted(doc)
    routed = doc["config"]["meshbridge:mesh"]["connectivity"] == "routed"
    nlbs = endpoints = services = rules = groups = 0
    nlb_dns: dict[str, list[str]] = {}  # cluster -> its NLBs' DNS names (routed: the gateway address)
    dns_by_vpc_service: dict[tuple[str, str], list[str]] = {}
    service_of: dict[str, str] = {}  # producer -> its endpoint service name
    for name, c in clusters.items():
        ec2 = aws.client("ec2", c["region"], role[name])
        elb = aws.client("elbv2", c["region"], role[name])
        subnets = set(nets[name]["privateSubnetIds"])
        for lb in elb.describe_load_balancers()["LoadBalancers"]:
            nlbs += 1
            nlb_dns.setdefault(name, []).append(lb["DNSName"])
            where = f"{name}: NLB {lb['LoadBalancerName']}"
            expect(lb["Scheme"] == "internal", f"{where} is {lb['Scheme']}")
            expect(lb["Type"] == "network", f"{where} is of type {lb['Type']}")
            got = {z["SubnetId"] for z in lb["AvailabilityZones"]}
            expect(got == subnets, f"{where} is in {sorted(got)}, the cluster's private subnets are {sorted(subnets)}")
            for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
                expect(listener["Protocol"] == "TCP", f"{where}: listener {listener['Port']} is {listener['Protocol']}")
                for action in listener["DefaultActions"]:
                    tg = elb.describe_target_groups(TargetGroupArns=[action["TargetGroupArn"]])["TargetGroups"][0]
                    expect(
                        action["Type"] == "forward" and tg["TargetType"] == "ip",
                        f"{where}: listener {listener['Port']} forwards to a {tg['TargetType']} target group",
                    )
        for svc in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]:
            services += 1
            service_of[name] = svc["ServiceName"]
            perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"])["AllowedPrincipals"]
            principals = sorted(p["Principal"] for p in perms)
            expect("*" not in principals, f"{name}: endpoint service {svc['ServiceId']} admits everyone")
            consumers = principals_of.get(name, [])
            expect(
                principals == consumers,
                f"{name}: endpoint service {svc['ServiceId']} admits {principals}, the consumers' are {consumers}",
            )
        # the program's groups (its provider's default tags); a VPC's default group is the platform's
        ours = ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": [CLUSTER_TAG]}])["SecurityGroups"]
        for sg in ours:
            groups += 1
            for perm in sg.get("IpPermissions", []) + sg.get("IpPermissionsEgress", []):
                rules += 1
                ranges = [r["CidrIp"] for r in perm.get("IpRanges", [])] + [
                    r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])
                ]
                wide = [r for r in ranges if r in OPEN]
                expect(not wide, f"{name}: security group {sg['GroupId']} ({sg['GroupName']}) admits {wide}")
        for ep in ec2.describe_vpc_endpoints()["VpcEndpoints"]:
            if ep["State"] == "deleted":
                continue  # an earlier stack file's, in the same account (listed for a while, as in AWS)
            endpoints += 1
            where = f"{name}: endpoint {ep['VpcEndpointId']}"
            expect(ep["VpcId"] == nets[name]["vpcId"], f"{where} is in {ep['VpcId']}, not the cluster's VPC")
            expect(set(ep["SubnetIds"]) <= subnets, f"{where} is in subnets {ep['SubnetIds']}")
            own_groups = {g["GroupId"] for g in ours}
            expect(
                bool(ep["Groups"]) and {g["GroupId"] for g in ep["Groups"]} <= own_groups,
                f"{where} has security groups {ep['Groups']}",
            )
            dns_by_vpc_service[(name, ep["ServiceName"])] = [d["DnsName"] for d in ep.get("DnsEntries", [])]
    # each consumer's ServiceEntries point at the DNS name moto gave its endpoint to the producer
    entries = 0
    for name, server in servers.items():
        for obj in server.client().list_all():
            if obj.get("kind") != "ServiceEntry":
                continue
            for ep in obj.get("spec", {}).get("endpoints") or []:
                network = ep.get("network")
                producer = next((p for p in clusters if p != name and network == clusters[p]["network"]), None)
                if producer is None:
                    continue
                entries += 1
                # privatelink: the consumer's endpoint's first DNS name; routed: the producer's NLB's
                if routed:
                    dns, what = nlb_dns.get(producer, []), f"{producer}'s NLB"
                else:
                    dns = dns_by_vpc_service.get((name, service_of.get(producer, "")), [])[:1]
                    what = f"its endpoint to {producer}"
                expect(
                    ep["address"] in dns,
                    f"{name}: ServiceEntry {obj['metadata']['name']} points at {ep['address']}, "
                    f"moto's DNS name of {what} is {dns}",
                )
    expect(nlbs > 0 and entries > 0 and groups > 0, "no NLB, ServiceEntry endpoint or security group of ours found")
    if routed:
        expect(services == 0 and endpoints == 0, f"routed: {services} endpoint services, {endpoints} endpoints")
        links = "no endpoint service or endpoint"
        names = "the producers' NLB DNS names"
    else:
        expect(services > 0 and endpoints > 0, "privatelink: no endpoint service or endpoint found")
        links = (
            f"{services} endpoint services admitting the consumers' principals only, "
            f"{endpoints} endpoints in the consumers' VPCs"
        )
        names = "moto's endpoint DNS names"
    return (
        f"{nlbs} internal NLBs in the private subnets, {links}, {rules} rules of {groups} security groups "
        f"none open to the world, {entries} ServiceEntry endpoints on {names}"
    )


def check_gone(aws: Aws, doc: dict[str, Any]) -> None:
    for c in doc["config"]["meshbridge:clusters"]:
        ec2 = aws.client("ec2", c["region"], c["aws"]["assumeRoleArn"])
        elb = aws.client("elbv2", c["region"], c["aws"]["assumeRoleArn"])
        left = {
            "load balancers": elb.describe_load_balancers()["LoadBalancers"],
            "target groups": elb.describe_target_groups()["TargetGroups"],
            "endpoint services": ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"],
            # a deleted endpoint stays listed for a while in state `deleted` (AWS and moto alike)
            "endpoints": [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"] != "deleted"],
        }
        still = {k: len(v) for k, v in left.items() if v}
        expect(not still, f"{c['name']}: after destroy moto still holds {still}")


# ------------------------------------------------------------------------------ state in S3


def state_backend(moto: Moto, stack: str) -> str:
    """The DIY backend URL of one stack file's stacks: a folder of its own in the bucket on moto
    (the S3 options of Pulumi's gocloud backend: an endpoint, path-style addressing). Each stack
    file's mesh stack keeps the e2e's stack name, and a destroyed stack with its protected root
    stays, so each file gets its own backend, its infra stacks with it (StackReferences)."""
    return f"s3://{STATE_BUCKET}/{stack}?endpoint={moto.url}&use_path_style=true&region=us-east-1"


def state_bucket(moto: Moto) -> None:
    """The bucket, on moto in the deployer account."""
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id=moto.credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=moto.credentials["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=STATE_BUCKET)


def locks(aws: Aws, stack: str) -> list[str]:
    s3 = aws.client("s3", "us-east-1")
    found = s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=f"{stack}/.pulumi/locks/").get("Contents") or []
    return [o["Key"] for o in found]


def up_while_another_is_refused(env: Env, project: Path, aws: Aws, stack: str) -> str:
    """`pulumi up`, and while it holds the stack's lock in the bucket a second `pulumi up` of the
    same stack, which the backend must refuse (the first then finishes; the state it writes is the
    one the next `up --expect-no-changes` reads)."""
    first = env.start(project, ["up", "--yes", "--skip-preview"])
    try:
        held = wait_until("the first up's lock in the state bucket", lambda: locks(aws, stack), timeout=120)
        code, out, err = env.pulumi_status(project, "up", "--yes", "--skip-preview", program=True)
        expect(code != 0, "a second `pulumi up` ran while the first held the stack's lock")
        expect("currently locked" in out + err, f"the second up failed, but not on the lock:\n{(out + err)[-800:]}")
        output, _ = first.communicate(timeout=1800)
    finally:
        if first.poll() is None:
            e2e.kill_tree(first)
            first.wait()
    expect(first.returncode == 0, f"the first up failed:\n{output[-1500:]}")
    expect(not locks(aws, stack), f"locks left in the state bucket after the up: {locks(aws, stack)}")
    return f"a second up refused by the lock {held[0].rsplit('/', 1)[-1]}"


# ------------------------------------------------------------------------------------ phase


def run_stack(env: Env, work: Path, charts: Path, aws: Aws, stack: str) -> str:
    original = stack_file(stack)
    grown = with_consumer(original, stack) if stack in ADDED else original
    env.env["PULUMI_BACKEND_URL"] = state_backend(aws.moto, stack)
    names = [c["name"] for c in grown["config"]["meshbridge:clusters"]]
    servers = e2e.start_servers(env, work / stack, names)
    try:
        install_tgb_crd(servers)
        nets = infra(env, work, stack, grown, servers)
        doc = aws_stack(original, stack, charts)
        project = e2e.program_copy(work / stack, "mesh", doc)
        env.pulumi(project, "stack", "init", e2e.MESH_STACK)
        expected = e2e.Expected(project, work / stack / "synth")
        e2e.create_namespaces(servers, e2e.team_namespaces(expected))
        preview = env.pulumi(project, "preview", "--json", program=True)
        n = e2e.summary(preview).get("create", 0)
        reads = sum(1 for r in expected.resources if r["type"] == e2e.STACK_REFERENCE)
        want = len(expected.resources) - reads + 1 + expected.chart_count
        expect(n == want, f"{stack}: preview creates {n} resources, synth registers {want} (with the stack and charts)")
        locked = up_while_another_is_refused(env, project, aws, stack)
        read_back = check_aws(aws, doc, nets, servers)
        env.pulumi(project, "up", "--yes", "--skip-preview", "--expect-no-changes", program=True)
        added = ""
        if stack in ADDED:
            doc = aws_stack(grown, stack, charts)
            e2e.write_stack(project, doc)
            e2e.create_namespaces(servers, e2e.team_namespaces(e2e.Expected(project, work / stack / "synth-added")))
            plan = e2e.steps(env.pulumi(project, "preview", "--json", program=True))
            changed = Counter(f"{s['op']} {s['urn'].split('::')[2]}" for s in plan if s["op"] not in ("same", "read"))
            touched = [
                f"{s['op']} {s['urn'].rsplit('::', 1)[-1]}"
                for s in plan
                if s["op"] in ("replace", "create-replacement", "delete-replaced", "delete")
                and s["urn"].split("::")[2] in LINKS
            ]
            expect(not touched, f"{stack}: adding a consumer cluster replaces or deletes links: {touched}")
            env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
            read_back = check_aws(aws, doc, nets, servers)
            env.pulumi(project, "up", "--yes", "--skip-preview", "--expect-no-changes", program=True)
            shown = ", ".join(f"{n} {what}" for what, n in sorted(changed.items()))
            added = f"; adding {ADDED[stack][1]['name']}: {shown}, no link replaced"
        env.pulumi(project, "destroy", "--yes", "--skip-preview", "--exclude-protected", program=True)
        check_gone(aws, grown)
        return f"{stack} up {n} (moto, state in S3: {locked}), second up 0 changes{added}, destroy ok; {read_back}"
    finally:
        for server in servers.values():
            server.stop()


def phase(work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    env = Env(work)
    charts = env.charts()
    staging = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    deployer = staging["config"]["meshbridge:aws"]["deployerAccountId"]
    moto = Moto(work / "moto", str(deployer))
    moto.start()
    env.env.update(moto.credentials)
    # the AWS stacks' state in a bucket on the same moto, as teams without Pulumi Cloud keep it
    state_bucket(moto)
    env.env["MESHBRIDGE_AWS_ENDPOINT"] = moto.url
    # the emulated organization's accounts: where the provider looks up a producer's endpoint service
    files = [stack_file(s) for s in STACKS]
    clusters = [c for f in files for c in f["config"]["meshbridge:clusters"]] + [a[1] for a in ADDED.values()]
    env.env["MESHBRIDGE_AWS_ACCOUNTS"] = ",".join(sorted({str(c["accountId"]) for c in clusters}))
    env.env["PATH"] = f"{ROOT / 'tools/aws'}:{env.env['PATH']}"
    try:
        aws = Aws(moto)
        return "e2e aws: " + "; ".join(run_stack(env, work, charts, aws, s) for s in STACKS)
    finally:
        moto.stop()
