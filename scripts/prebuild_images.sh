#!/usr/bin/env bash
# Starts the builds of the container images the tests use - molecule's and the
# Docker tests' (build_images.sh), the execution environment (build_ee.sh) - in
# the background and returns at once: `make test` runs the lint and pytest
# meanwhile. On a new machine the builds mostly wait on Debian's mirror and
# PyPI. Each build script holds a lock while it builds, so a test or a later
# step that needs an image waits for it instead of building it again, and
# builds it itself (showing the error) if the background build failed.
# The builds' output goes to build/prebuild.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
nohup bash -c 'bash scripts/build_images.sh; bash scripts/build_ee.sh' >build/prebuild.log 2>&1 </dev/null &
echo "prebuild_images: building the images in the background (log: build/prebuild.log)"
