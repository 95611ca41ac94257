// Package tlsinfo describes the bridged tls provider for meshbridge's own builds of
// pulumi-resource-tls and pulumi-tfgen-tls (tools/build-pulumi.sh). The tokens are the ones the
// pulumi_tls Python SDK uses: every Terraform resource tls_x becomes tls:index/x:X.
package tlsinfo

import (
	"github.com/hashicorp/terraform-provider-tls/shim"
	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	tftokens "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
)

// Version is set with -ldflags -X by tools/build-pulumi.sh.
var Version = "0.0.0-dev"

// Provider returns the bridge's description of the tls provider; metadata is the content of
// bridge-metadata.json (empty when tfgen creates it).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:                              pf.ShimProvider(shim.NewProvider()),
		Name:                           "tls",
		Description:                    "A Pulumi package to create TLS resources in Pulumi programs.",
		License:                        "Apache-2.0",
		Version:                        Version,
		MetadataInfo:                   tfbridge.NewProviderMetadata(metadata),
		GitHubOrg:                      "hashicorp",
		Python:                         &tfbridge.PythonInfo{RespectSchemaVersion: true},
		EnableZeroDefaultSchemaVersion: true,
		EnableAccuratePFBridgePreview:  true,
	}
	info.MustComputeTokens(tftokens.SingleModule("tls_", "index", tftokens.MakeStandard("tls")))
	return info
}
