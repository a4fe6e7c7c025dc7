#!/bin/sh
# Fill corpus/<target>/ from testdata/ and seeds/ (run from fuzz/ before the first run).
set -e
cd "$(dirname "$0")"
mkdir -p corpus/session corpus/mime corpus/import
cp seeds/session/* corpus/session/
for f in ../testdata/*.eml; do
    cp "$f" corpus/mime/
    cp "$f" corpus/import/
done
cp seeds/import/* corpus/import/
