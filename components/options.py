"""Resource options shared by every component: a child is parented to its component and created on
an explicit provider (default providers are disabled in every stack)."""

from __future__ import annotations

from typing import Any

import pulumi


def child_opts(parent: pulumi.Resource, provider: pulumi.ProviderResource, **kwargs: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, provider=provider, **kwargs)


# what a resource can wait for: a resource, or an Output that gives one once what it stands for
# exists (a chart's `ready`: components/helm.py)
Dependency = pulumi.Input[pulumi.Resource]
