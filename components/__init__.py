"""meshbridge components: one module per concern; none of them reads stack configuration."""
