// meshbridge's shim (ours): exposes terraform-provider-tls's internal provider to the bridge. Its
// module path sits under github.com/hashicorp/terraform-provider-tls so that Go's internal-package
// rule lets it import internal/provider; ../go.mod replaces it with this directory.
module github.com/hashicorp/terraform-provider-tls/shim

go 1.25.11

require (
	github.com/hashicorp/terraform-plugin-framework v1.17.0
	github.com/hashicorp/terraform-provider-tls v1.2.1-0.20260130152455-857b38cda3fc
)
