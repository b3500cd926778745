#!/usr/bin/env bash
# The test command: formatting, vet, and every test with the race detector,
# including the end-to-end tests that build and run the real binary against
# the fake Entra ID and Exchange Online. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# Man pages: no mandoc warnings (CI installs mandoc).
if command -v mandoc >/dev/null; then
	mandoc -Tlint -Wwarning man/*
elif [ -n "${OAUTH_SENDMAIL_REQUIRE_CLIENTS:-}" ]; then
	echo "mandoc is not installed" >&2
	exit 1
fi
go test -race -count=1 -timeout 20m ./...

# Every fuzz target for a bounded time (seed corpora in testdata/fuzz/).
fuzztime="${FUZZTIME:-20s}"
for target in message:FuzzRead config:FuzzParse queue:FuzzDecodeEnvelope \
	sendmail:FuzzParseArgs sendmail:FuzzSMTPSession; do
	pkg=${target%%:*} name=${target#*:}
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$pkg" >/dev/null ||
		{ echo "fuzzing $name found a failure: see $pkg/testdata/fuzz/$name" >&2; exit 1; }
done
echo "fuzz targets ran $fuzztime each"

# The Debian and RPM packages, installed and used as www-data and nobody.
# It changes the machine (installs the .deb, replacing the MTA), so only CI
# asks for it.
if [ -n "${OAUTH_SENDMAIL_PACKAGE_TEST:-}" ]; then
	packaging/test.sh
fi
