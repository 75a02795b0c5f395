#!/bin/sh
# The generated documentation matches the code's tables.
. "$(dirname "$0")/lib.sh"
SRC=${IT_SRC:?}
"$SRC/scripts/gen-docs.sh" "$B" "$T"
for f in options.md counters.md; do
	diff -u "$SRC/docs/$f" "$T/$f" >"$T/diff" || fail "docs/$f is stale (run scripts/gen-docs.sh build): $(head -20 "$T/diff")"
done
pass "docs/options.md and docs/counters.md are current"
