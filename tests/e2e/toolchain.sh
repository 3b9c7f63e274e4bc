#!/usr/bin/env bash
# Builds what `npm run e2e` runs for real, from Go modules only, into a cache outside the repository:
# the Pulumi CLI and its Node.js language host, the docker-build provider plugin, and BuildKit
# (buildkitd + buildctl), and cosign. Idempotent: each piece is keyed by its version and skipped when present.
#
#   bash tests/e2e/toolchain.sh            # prints the cache directory's manifest when done
#
# Versions come from package-lock.json (@pulumi/pulumi, @pulumi/docker-build) and BUILDKIT_VERSION
# below (docker-build 0.0.22 embeds the BuildKit v0.31.0 client). Where the Go module proxy refuses a
# module version ("403 … not available"), the script says so: for the CLI it stops (the CLI is built at
# exactly the SDK's version); for the language host, whose module the proxy does not serve, it builds
# the last SDK release that contained it (see CONTRIBUTING.md, "The real-engine suite"). It never downloads
# a prebuilt binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${MULTICLOUD_TOOLCHAIN:-${XDG_CACHE_HOME:-$HOME/.cache}/multicloud-deploy/toolchain}
BUILDKIT_VERSION=v0.31.0
# The newest cosign the module proxy serves (v3.1.1–v3.1.3): it verifies the legacy `.sig` format too.
COSIGN_VERSION=v3.1.3
# The last github.com/pulumi/pulumi/sdk/v3 release that still contained the Node.js language host
# (from v3.69.0 it is its own module, which this proxy does not serve).
LANGUAGE_HOST_FALLBACK=v3.68.0
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local

lock() { node -p "require('./package-lock.json').packages['node_modules/$1'].version"; }
SDK_VERSION=v$(lock @pulumi/pulumi)
DOCKER_BUILD_VERSION=v$(lock @pulumi/docker-build)

mkdir -p "$CACHE/bin" "$CACHE/work"
log() { printf 'toolchain: %s\n' "$*" >&2; }
available() { go mod download -json "$1" >/dev/null 2>&1; }
stamp() { echo "$CACHE/.$1"; }
note() { printf '%s\t%s\n' "$1" "$2" >> "$CACHE/manifest.tsv.new"; }
: > "$CACHE/manifest.tsv.new"

# A throwaway module that requires what is built: `go install pkg@version` refuses modules with
# replace/exclude directives, and a wrapper can repeat them.
wrapper() { # name go-version requires... (then extra go.mod lines on stdin)
  local dir="$CACHE/work/$1"
  rm -rf "$dir" && mkdir -p "$dir"
  { printf 'module toolchain/%s\n\ngo %s\n\n' "$1" "$2"; shift 2; for r in "$@"; do printf 'require %s\n' "$r"; done; cat; } > "$dir/go.mod"
  echo "$dir"
}
tools() { # dir packages...
  local dir=$1; shift
  { printf '//go:build tools\n\npackage tools\n\nimport (\n'; for p in "$@"; do printf '\t_ "%s"\n' "$p"; done; printf ')\n'; } > "$dir/tools.go"
  (cd "$dir" && go mod tidy)
}

# --- Pulumi CLI -------------------------------------------------------------------------------
# Exactly the SDK's version: the CLI and @pulumi/pulumi move together (package-lock.json).
CLI_VERSION=$SDK_VERSION
if ! available "github.com/pulumi/pulumi/pkg/v3@$CLI_VERSION"; then
  log "the module proxy does not serve github.com/pulumi/pulumi/pkg/v3@$CLI_VERSION, the version of @pulumi/pulumi in package-lock.json; pin @pulumi/pulumi to a version it serves"
  exit 1
fi
if [ ! -e "$(stamp "cli-$CLI_VERSION")" ]; then
  log "building the Pulumi CLI $CLI_VERSION"
  pkgmod=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@$CLI_VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).GoMod))')
  gover=$(awk '/^go /{print $2; exit}' "$pkgmod")
  # pkg/v3's go.mod replaces sdk/v3 with ../sdk (dropped: we require the same version) and more.
  dir=$({ grep -E '^replace .* => [^.]' "$pkgmod" || true; } | wrapper cli "$gover" "github.com/pulumi/pulumi/pkg/v3 $CLI_VERSION" "github.com/pulumi/pulumi/sdk/v3 $CLI_VERSION")
  tools "$dir" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  (cd "$dir" && go build -o "$CACHE/bin/pulumi" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$CLI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  touch "$(stamp "cli-$CLI_VERSION")"
fi
note pulumi "$CLI_VERSION (github.com/pulumi/pulumi/pkg/v3; @pulumi/pulumi is $SDK_VERSION)"

# --- Node.js language host --------------------------------------------------------------------
LH_VERSION=$LANGUAGE_HOST_FALLBACK
LH_MODULE=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
LH_COMMIT=$(curl -fsS "$(go env GOPROXY | cut -d, -f1)/github.com/pulumi/pulumi/pkg/v3/@v/$CLI_VERSION.info" 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).Origin.Hash.slice(0,12))}catch{}})' || true)
if [ -n "$LH_COMMIT" ] && available "$LH_MODULE@$LH_COMMIT"; then
  LH_VERSION=$LH_COMMIT
fi
if [ ! -e "$(stamp "language-nodejs-$LH_VERSION")" ]; then
  if [ "$LH_VERSION" = "$LANGUAGE_HOST_FALLBACK" ]; then
    log "the module proxy does not serve $LH_MODULE at the CLI's commit; building the language host of sdk/v3@$LH_VERSION"
    sdkmod=$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$LH_VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).GoMod))')
    dir=$({ grep -E '^replace .* => [^.]' "$sdkmod" || true; } | wrapper language-nodejs 1.21 "github.com/pulumi/pulumi/sdk/v3 $LH_VERSION")
    pkg=github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
  else
    log "building the language host at $LH_VERSION"
    dir=$(wrapper language-nodejs 1.25 "$LH_MODULE $LH_VERSION" < /dev/null)
    pkg=$LH_MODULE
  fi
  tools "$dir" "$pkg"
  (cd "$dir" && go build -o "$CACHE/bin/pulumi-language-nodejs" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LH_VERSION" "$pkg")
  touch "$(stamp "language-nodejs-$LH_VERSION")"
fi
note pulumi-language-nodejs "$LH_VERSION"

# --- docker-build provider ----------------------------------------------------------------------
DB_DIR="$CACHE/plugins/resource-docker-build-$DOCKER_BUILD_VERSION"
if [ ! -e "$(stamp "docker-build-$DOCKER_BUILD_VERSION")" ]; then
  log "building the docker-build provider $DOCKER_BUILD_VERSION"
  # Its schema metadata imports two SDK-generation modules (pulumi-java, pulumi-language-dotnet) for
  # one struct type each; this proxy refuses the versions it pins. Local stand-ins declare those two
  # types, so the schema keeps its language sections and the builds and pushes are the provider's own.
  dir=$(wrapper docker-build 1.26.0 "github.com/pulumi/pulumi-docker-build $DOCKER_BUILD_VERSION" <<'MOD'
replace github.com/pulumi/pulumi-java => ./stubs/java
replace github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3 => ./stubs/dotnet
MOD
)
  mkdir -p "$dir/stubs/java/pkg/codegen/java" "$dir/stubs/dotnet/codegen"
  printf 'module github.com/pulumi/pulumi-java\n\ngo 1.22\n' > "$dir/stubs/java/go.mod"
  printf 'module github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3\n\ngo 1.22\n' > "$dir/stubs/dotnet/go.mod"
  cat > "$dir/stubs/java/pkg/codegen/java/package_info.go" <<'GO'
// Package java: the one type docker-build's schema metadata names (Java SDK generation settings).
package java

type PackageInfo struct {
	BuildFiles                      string            `json:"buildFiles,omitempty"`
	GradleNexusPublishPluginVersion string            `json:"gradleNexusPublishPluginVersion,omitempty"`
	Dependencies                    map[string]string `json:"dependencies,omitempty"`
}
GO
  cat > "$dir/stubs/dotnet/codegen/package_info.go" <<'GO'
// Package codegen: the one type docker-build's schema metadata names (.NET SDK generation settings).
package codegen

type CSharpPackageInfo struct {
	RespectSchemaVersion bool              `json:"respectSchemaVersion,omitempty"`
	PackageReferences    map[string]string `json:"packageReferences,omitempty"`
}
GO
  tools "$dir" github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build
  mkdir -p "$DB_DIR"
  (cd "$dir" && go build -o "$DB_DIR/pulumi-resource-docker-build" \
    -ldflags "-X github.com/pulumi/pulumi-docker-build/provider.Version=${DOCKER_BUILD_VERSION#v}" \
    github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build)
  touch "$(stamp "docker-build-$DOCKER_BUILD_VERSION")"
fi
note pulumi-resource-docker-build "$DOCKER_BUILD_VERSION (SDK-generation metadata types stubbed)"

# --- BuildKit -----------------------------------------------------------------------------------
if [ ! -e "$(stamp "buildkit-$BUILDKIT_VERSION")" ]; then
  log "building BuildKit $BUILDKIT_VERSION"
  bkmod=$(go mod download -json "github.com/moby/buildkit@$BUILDKIT_VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).GoMod))')
  gover=$(awk '/^go /{print $2; exit}' "$bkmod")
  # Repeat BuildKit's exclude block: MVS would otherwise pick the versions it excludes.
  dir=$(awk '/^exclude \(/{p=1} p{print} p&&/^\)/{p=0}' "$bkmod" | wrapper buildkit "$gover" "github.com/moby/buildkit $BUILDKIT_VERSION")
  tools "$dir" github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
  (cd "$dir" && go build -o "$CACHE/bin/" \
    -ldflags "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
    github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl)
  touch "$(stamp "buildkit-$BUILDKIT_VERSION")"
fi
note buildkitd "$BUILDKIT_VERSION"

# --- cosign ---------------------------------------------------------------------------------------
# The real CLI, to check what the product signs (`cosign verify --key`) and to sign the legacy way for
# the product to check. The whole CLI, not a tool around its verification package: the evidence is
# what users run. Its go.mod has no replace directives, so `go install pkg@version` builds it (about
# 4 minutes cold on 2 cores).
if [ ! -e "$(stamp "cosign-$COSIGN_VERSION")" ]; then
  log "building cosign $COSIGN_VERSION"
  GOBIN="$CACHE/bin" go install \
    -ldflags "-X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION" \
    "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN_VERSION"
  touch "$(stamp "cosign-$COSIGN_VERSION")"
fi
note cosign "$COSIGN_VERSION (github.com/sigstore/cosign/v3)"

# The command provider (github.com/pulumi/pulumi-command/provider) is not served by this proxy at any
# version: the e2e suite runs `command:local:Command` on its stand-in (tests/e2e/standins).
note pulumi-resource-command "stand-in (tests/e2e/standins): the proxy serves no github.com/pulumi/pulumi-command/provider"
mv "$CACHE/manifest.tsv.new" "$CACHE/manifest.tsv"
echo "$CACHE"
