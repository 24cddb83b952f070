#!/usr/bin/env bash
# Checks that `cargo build`, `cargo test` and the viewer build enable the same features of
# every crate they share (Cargo.toml's feature-unification entries): a crate whose features
# differ is built again, with everything above it (the burn stack), in each.
# Exit 0: they agree; 1: they differ (each such crate printed with its feature sets).
set -euo pipefail
cd "$(dirname "$0")/.."
tree() { # cargo tree arguments -> "name version features" per target-side crate
    cargo tree --locked --prefix none --format "{p} [{f}]" -e normal,no-proc-macro "$@" \
        | sed -e 's/ (\*)$//' -e 's/ (proc-macro)$//' -e 's/ (\/[^)]*)//' | sort -u
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tree > "$work/build"
tree -e dev > "$work/test"
tree --features viewer > "$work/viewer"
# A crate listed with two feature sets in any build, or with different sets across builds.
differ="$(cat "$work/build" "$work/test" "$work/viewer" | sort -u \
    | awk '$1 != "electrode-twin" { key = $1 " " $2; n[key]++; line[key] = line[key] "\n    " $0 }
           END { for (k in n) if (n[k] > 1) print k line[k] }')"
if [ -n "$differ" ]; then
    echo "feature sets differ between cargo build, cargo test and the viewer build:"
    echo "$differ"
    echo "hint: enable the union in Cargo.toml's feature-unification entries"
    exit 1
fi
echo "feature sets: cargo build, cargo test and the viewer build agree on every crate they share"
