"""make e2e only (the AWS phase, tools/e2e/aws.py): stands for the platform project that built a
cluster's network and the cluster (docs/configuration.md, `infraStack`).

One stack per cluster of a deployed stack file: a VPC and two private subnets in the cluster's
account (through its deployer role, as the mesh stack reaches it) and region, created by the AWS
provider of the e2e (tools/aws, on moto), exported as `vpcId`, `vpcCidr` and `privateSubnetIds`,
with the cluster's kubeconfig as the secret output `kubeconfig`.
"""

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
region = config.require("region")
account = config.require("accountId")
cidr = config.require("cidr")
provider = aws.Provider(
    "aws",
    region=region,
    allowed_account_ids=[account],
    assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=config.require("roleArn"), session_name="platform")],
)
opts = pulumi.ResourceOptions(provider=provider)
vpc = aws.ec2.Vpc("vpc", cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True, opts=opts)
base = cidr.split(".")
subnets = [
    aws.ec2.Subnet(
        f"private-{zone}",
        vpc_id=vpc.id,
        cidr_block=f"{base[0]}.{base[1]}.{i}.0/24",
        availability_zone=f"{region}{zone}",
        opts=opts,
    )
    for i, zone in enumerate(("a", "b"))
]
pulumi.export("vpcId", vpc.id)
pulumi.export("vpcCidr", vpc.cidr_block)
pulumi.export("privateSubnetIds", [s.id for s in subnets])
pulumi.export("kubeconfig", config.require_secret("kubeconfig"))
