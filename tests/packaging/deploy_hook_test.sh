#!/bin/bash
# The certbot deploy hook (docs/acme.md) is installed executable at
# /usr/libexec/transportcertd/certbot-deploy-hook, is plain POSIX sh that shellcheck finds
# nothing in, and fails with one line when certbot's RENEWED_LINEAGE is missing. What it does
# against the daemon is tested in tests/acme/acme_test.py.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command cmake shellcheck

stage="$scratch/stage"
stage_install "$stage"
hook="$stage/usr/libexec/transportcertd/certbot-deploy-hook"
[ -f "$hook" ] || fail "not installed at /usr/libexec/transportcertd/certbot-deploy-hook"
[ "$(stat -c %A "$hook")" = -rwxr-xr-x ] || fail "installed with mode $(stat -c %A "$hook")"
ok "installed at /usr/libexec/transportcertd/certbot-deploy-hook, mode -rwxr-xr-x"

[ "$(head -n1 "$hook")" = "#!/bin/sh" ] || fail "not a /bin/sh script: $(head -n1 "$hook")"
if ! shellcheck --shell=sh "$hook" >"$scratch/shellcheck.log" 2>&1; then
	show "$scratch/shellcheck.log"
	fail "shellcheck found the above"
fi
ok "shellcheck --shell=sh finds nothing"

if env -u RENEWED_LINEAGE "$hook" >"$scratch/out" 2>"$scratch/err"; then
	fail "exits 0 without RENEWED_LINEAGE"
fi
[ ! -s "$scratch/out" ] || fail "printed on stdout: $(cat "$scratch/out")"
[ "$(wc -l <"$scratch/err")" = 1 ] || { show "$scratch/err"; fail "not one line on stderr"; }
grep -q '^transportcertd certbot-deploy-hook: RENEWED_LINEAGE is not set' "$scratch/err" ||
	fail "says: $(cat "$scratch/err")"
ok "without RENEWED_LINEAGE: non-zero, one line: $(cat "$scratch/err")"
