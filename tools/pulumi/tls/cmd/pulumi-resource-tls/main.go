// pulumi-resource-tls: the Terraform TLS provider served through the Pulumi bridge. The two
// embedded files are generated in a build directory outside the repository by
// tools/build-pulumi.sh (pulumi-tfgen-tls schema, then the version stamped into the schema).
package main

import (
	"context"
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"meshbridge.local/tools/pulumi/tls/tlsinfo"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

func main() {
	meta := tfbridge.ProviderMetadata{PackageSchema: pulumiSchema}
	tfbridge.Main(context.Background(), "tls", tlsinfo.Provider(bridgeMetadata), meta)
}
