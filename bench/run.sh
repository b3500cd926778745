#!/usr/bin/env bash
# Benchmarks oauth-sendmail against msmtp on this machine, both sending to
# the project's fake Exchange Online on 127.0.0.1, and prints a Markdown
# table (BENCHMARKS.md explains it). Usage: bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=30 flush=1000
if [ "${1:-}" = --quick ]; then runs=5 flush=100; fi
if ! command -v msmtp >/dev/null || ! command -v curl >/dev/null || [ ! -x /usr/bin/time ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends msmtp curl time >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
# Built as the packages build it.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/oauth-sendmail" .
ln -s oauth-sendmail "$work/bin/sendmail"
go build -o "$work/bin/fakeexo" ./internal/fakeexo/cmd/fakeexo
go build -o "$work/bin/driver" ./bench/driver
echo "oauth-sendmail $(git rev-parse --short HEAD 2>/dev/null), $(msmtp --version | head -1), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo
"$work/bin/driver" -bin "$work/bin" -work "$work" -runs "$runs" -flush "$flush"
echo
echo "Go micro-benchmarks:"
go test -run '^$' -bench . -benchmem ./message ./oauth | grep -E '^Benchmark'
