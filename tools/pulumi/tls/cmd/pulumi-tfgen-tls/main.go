// pulumi-tfgen-tls writes the tls provider's Pulumi schema (`schema --out DIR`: schema.json and
// bridge-metadata.json); tools/build-pulumi.sh embeds them in pulumi-resource-tls. The descriptions
// come from the upstream provider's docs/ in the module cache (TFGEN_UPSTREAM_DIR).
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"meshbridge.local/tools/pulumi/tls/tlsinfo"
)

func main() {
	info := tlsinfo.Provider(nil)
	info.UpstreamRepoPath = os.Getenv("TFGEN_UPSTREAM_DIR")
	tfgen.Main("tls", info)
}
