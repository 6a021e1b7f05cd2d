#!/usr/bin/env bash
# Builds and runs Examples/VerbaDemo, a package that depends on Verba by version, against the current
# commit: a temporary clone of HEAD is tagged VERSION (default 0.3.0) and given to the example as
# VERBA_GIT_URL. Uncommitted changes are not in the clone. Needs downloads/minilm and downloads/gpt2-124m
# (scripts/setup.sh); the tokenizer is the GPT-2 folder's.
#
#   bash scripts/test-consumer.sh
#   VERSION=0.4.0 CONFIGURATION=release bash scripts/test-consumer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
VERSION=${VERSION:-0.3.0}
CONFIGURATION=${CONFIGURATION:-debug}
for need in downloads/minilm/tokenizer.json downloads/gpt2-124m/model.safetensors; do
    [ -e "$need" ] || { echo "test-consumer: $need is absent: run scripts/setup.sh" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-hardlinks "$root" "$tmp/verba"
git -C "$tmp/verba" checkout -q --detach "$(git rev-parse HEAD)"

git -C "$tmp/verba" tag "$VERSION"

# The example is built from a copy, so no Package.resolved pinning the temporary clone stays behind.
cp -r Examples/VerbaDemo "$tmp/demo"
export VERBA_GIT_URL="file://$tmp/verba" VERBA_VERSION="$VERSION"
swift build --package-path "$tmp/demo" -c "$CONFIGURATION" --scratch-path "$tmp/build"
"$tmp/build/$CONFIGURATION/VerbaDemo" "$root/downloads/gpt2-124m" "$root/downloads/minilm" "$root/downloads/gpt2-124m" \
    | tee "$tmp/out.txt"
grep -q "^embedding: 384 dimensions" "$tmp/out.txt"
grep -qE "^streamed [1-9][0-9]* pieces" "$tmp/out.txt"
echo "test-consumer: VerbaDemo built against Verba $VERSION (tag on $(git -C "$root" rev-parse --short HEAD)) and ran"
