// Package shim hands the Terraform TLS provider (a terraform-plugin-framework provider) to the
// Pulumi bridge; see go.mod for why the module path is under terraform-provider-tls.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	tlsprovider "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

// NewProvider returns the upstream Terraform TLS provider.
func NewProvider() provider.Provider { return tlsprovider.New() }
