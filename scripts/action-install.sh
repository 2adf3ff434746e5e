#!/usr/bin/env bash
# Installs advtest for the GitHub Action (action.yml): the released binary
# for the runner's OS and architecture when VERSION names a release (checked
# against the release's checksums.txt), else `go install` at the action's
# own ref (ACTION_REF), which needs Go on the runner (actions/setup-go).
set -euo pipefail

bin="${RUNNER_TEMP:-/tmp}/advtest-bin"
mkdir -p "$bin"
echo "$bin" >>"${GITHUB_PATH:-/dev/null}"

if [ -n "${VERSION:-}" ]; then
  case "${RUNNER_OS:-$(uname -s)}" in
    Linux) os=linux ;; macOS|Darwin) os=darwin ;; Windows|MINGW*|MSYS*) os=windows ;;
    *) echo "advtest action: unsupported runner OS ${RUNNER_OS:-}" >&2; exit 2 ;;
  esac
  case "${RUNNER_ARCH:-$(uname -m)}" in
    X64|x86_64|amd64) arch=amd64 ;; ARM64|arm64|aarch64) arch=arm64 ;;
    *) echo "advtest action: unsupported runner architecture ${RUNNER_ARCH:-}" >&2; exit 2 ;;
  esac
  ver=${VERSION#v}
  ext=tar.gz; [ "$os" = windows ] && ext=zip
  asset="advtest_${ver}_${os}_${arch}.${ext}"
  tmp=$(mktemp -d)
  gh release download "$VERSION" --repo "${ADVTEST_REPO:-advtest/advtest}" --pattern "$asset" --pattern checksums.txt --dir "$tmp"
  (cd "$tmp" && grep " $asset\$" checksums.txt | sha256sum -c -)
  if [ "$ext" = zip ]; then unzip -q -o "$tmp/$asset" -d "$tmp/x"; else mkdir -p "$tmp/x" && tar -xzf "$tmp/$asset" -C "$tmp/x"; fi
  cp "$tmp"/x/advtest* "$bin/"
else
  ref=${ACTION_REF:-latest}
  GOBIN="$bin" go install "github.com/advtest/advtest@${ref}"
fi
"$bin/advtest" version
