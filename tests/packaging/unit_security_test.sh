#!/bin/bash
# `systemd-analyze security --offline=yes` of the installed unit: prints the whole assessment
# and the exposure score (recorded in docs/packaging.md), and fails when the score rises above
# 2.0 ("OK" in systemd's scale ends at 4.9), so loosening the sandbox is a visible decision.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command systemd-analyze cmake

stage="$scratch/root"
stage_install "$stage"
unit="$stage/lib/systemd/system/transportcertd.service"
[ -f "$unit" ] || fail "the unit is not installed at /lib/systemd/system/transportcertd.service"

say "systemd-analyze security --offline=yes transportcertd.service"
rc=0
systemd-analyze security --offline=yes --threshold=20 "$unit" >"$scratch/security.log" 2>&1 || rc=$?
grep -v '^✓' "$scratch/security.log" | sed 's/ *$//' || true
score=$(sed -n 's/.*Overall exposure level for transportcertd.service: \([0-9.]*\).*/\1/p' \
	"$scratch/security.log")
[ -n "$score" ] || { show "$scratch/security.log"; fail "no exposure score in the output"; }
say "exposure score: $score"
[ "$rc" = 0 ] || fail "exposure $score is above the threshold 2.0 (systemd-analyze exited $rc)"
ok "exposure $score <= 2.0"
