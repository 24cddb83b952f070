# Sourced by the bench scripts from the repository root: sets $etwin (ETWIN_BIN, or a
# fresh release build) and $tmp, a scratch folder removed on exit.
if [ -n "${ETWIN_BIN:-}" ]; then
  etwin=$ETWIN_BIN
else
  cargo build --release --quiet
  etwin=${CARGO_TARGET_DIR:-target}/release/etwin
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
