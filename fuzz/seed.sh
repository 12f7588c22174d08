#!/bin/sh
# Seeds each target's corpus (fuzz/corpus/TARGET, not committed) from the repository's own
# inputs: the history fixtures for the parsers, the system specs for the spec parser.
set -eu
cd "$(dirname "$0")"
for target in jsonl edn jepsen_log porcupine auto; do
    mkdir -p "corpus/$target"
    cp ../histories/testdata/*.jsonl ../histories/testdata/*.edn ../histories/testdata/*.log \
        ../histories/testdata/*.txt "corpus/$target/"
done
mkdir -p corpus/spec
cp ../systems/*.toml corpus/spec/
