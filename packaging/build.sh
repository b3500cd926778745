#!/usr/bin/env bash
# Builds dist/oauth-sendmail_<version>_<arch>.deb and .rpm for amd64 and
# arm64 (cross-compiled, CGO off) with nfpm, pinned as a Go tool in
# packaging/tools. Usage: packaging/build.sh [arch...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)

# The version: the newest v* tag, else 0.0.<commits>+g<hash> so that every
# commit's package upgrades the previous one.
if [ -n "${OAUTH_SENDMAIL_VERSION:-}" ]; then
	version=$OAUTH_SENDMAIL_VERSION
elif version=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
	version=${version#v}
	version=${version//-/.}
else
	version="0.0.$(git rev-list --count HEAD 2>/dev/null || echo 0)+g$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/man" dist
for page in man/*; do
	gzip -9n <"$page" >"$build/man/$(basename "$page").gz"
done
{
	echo "oauth-sendmail ($version-1) unstable; urgency=medium"
	echo
	git log -20 --format='  * %s' 2>/dev/null | cut -c1-78 || echo "  * Build $version."
	echo
	echo " -- oauth-sendmail maintainers <oauth-sendmail@example.org>  $(date -R)"
} | gzip -9n >"$build/changelog.Debian.gz"

nfpm=("go" "tool" "-modfile=$root/packaging/tools/go.mod" "nfpm")
for arch in "${archs[@]}"; do
	bin="$build/oauth-sendmail-$arch"
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X github.com/oauth-sendmail/oauth-sendmail/admin.Version=$version" -o "$bin" .
	# nfpm expands variables only in some fields: fill in all of them here.
	sed -e "s|\${ARCH}|$arch|g" -e "s|\${VERSION}|$version|g" \
		-e "s|\${BINARY}|$bin|g" -e "s|\${BUILD}|$build|g" \
		packaging/nfpm.yaml >"$build/nfpm-$arch.yaml"
	for packager in deb rpm; do
		"${nfpm[@]}" package --config "$build/nfpm-$arch.yaml" --packager "$packager" --target dist/ >/dev/null
	done
done
ls -1 dist/*"$version"*
