"""meshbridge CrossGuard policy pack: `pulumi preview --policy-pack policy`.

Every policy is mandatory, except those in rules.ADVISORY (reported, the preview goes on).
The rules themselves are plain functions in rules.py.
"""

from props import plain
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import ADVISORY, RESOURCE_RULES, STACK_RULES, Res, ResourceRule, StackRule


def _res(resource_type: str, name: str, urn: str, props: dict, opts, provider) -> Res:
    return Res(
        type=resource_type,
        name=name,
        urn=urn,
        props=plain(props),
        protect=bool(getattr(opts, "protect", False)),
        provider=getattr(provider, "urn", "") or "",
    )


def _resource_policy(name: str, description: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule(_res(args.resource_type, args.name, args.urn, args.props, args.opts, args.provider)):
            report(message, args.urn)

    level = EnforcementLevel.ADVISORY if name in ADVISORY else None  # None: the pack's MANDATORY
    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


def _stack_policy(name: str, description: str, rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [_res(r.resource_type, r.name, r.urn, r.props, r.opts, r.provider) for r in args.resources]
        for message in rule(resources):
            report(message)

    return StackValidationPolicy(name=name, description=description, validate=validate)


PolicyPack(
    name="meshbridge-invariants",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_resource_policy(n, d, r) for n, (d, r) in RESOURCE_RULES.items()]
    + [_stack_policy(n, d, r) for n, (d, r) in STACK_RULES.items()],
)
