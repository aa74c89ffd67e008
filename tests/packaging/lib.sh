# shellcheck shell=bash
# Shared by the packaging tests (sourced, not run). Each test prints what it checks and exits
# 0 (pass), 1 (fail, loudly, with the evidence) or 77 (skip, with the reason).
#
# Environment set by tests/packaging/CMakeLists.txt:
#   TRANSPORTCERTD_SOURCE_DIR  the source tree
#   TRANSPORTCERTD_BUILD_DIR   the (built) build tree
#   TRANSPORTCERTD_BIN         the daemon binary

set -eu

test_name=$(basename "$0" .sh)

say() { printf '%s: %s\n' "$test_name" "$*"; }
ok() { printf '%s:   ok   %s\n' "$test_name" "$*"; }
fail() {
	printf '%s: FAIL %s\n' "$test_name" "$*" >&2
	exit 1
}
skip() {
	printf '%s: SKIP %s\n' "$test_name" "$*"
	exit 77
}
# show FILE: prints a file's content indented, as evidence before a failure.
show() { sed 's/^/    | /' "$1" >&2 || true; }

: "${TRANSPORTCERTD_SOURCE_DIR:?set by ctest}"
: "${TRANSPORTCERTD_BUILD_DIR:?set by ctest}"
TRANSPORTCERTD_BIN=${TRANSPORTCERTD_BIN:-}

# A private scratch directory, removed on exit (after the test's own cleanup, see on_exit).
scratch=$(mktemp -d "${TMPDIR:-/tmp}/$test_name.XXXXXX")
cleanup_hooks=""
on_exit() { cleanup_hooks="$1; $cleanup_hooks"; }
# shellcheck disable=SC2154 # status is set inside the trap
trap 'status=$?; eval "$cleanup_hooks"; rm -rf "$scratch"; exit $status' EXIT
trap 'exit 130' INT TERM

require_command() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || fail "needs '$c' (see docs/packaging.md for the packages)"
	done
}

require_daemon() {
	if [ -z "$TRANSPORTCERTD_BIN" ] || [ ! -x "$TRANSPORTCERTD_BIN" ]; then
		fail "no daemon binary at TRANSPORTCERTD_BIN='$TRANSPORTCERTD_BIN' (build the transportcertd target)"
	fi
}

# stage_install DIR: `cmake --install` of the build tree into DIR with the prefix /usr, the
# layout the .deb has.
stage_install() {
	if ! DESTDIR="$1" cmake --install "$TRANSPORTCERTD_BUILD_DIR" --prefix /usr \
		>"$scratch/install.log" 2>&1; then
		show "$scratch/install.log"
		fail "cmake --install into $1 failed"
	fi
}

# The journal MESSAGE_IDs the daemon defines (daemon/alerts.h).
message_ids() {
	grep -o '"[0-9a-f]\{32\}"' "$TRANSPORTCERTD_SOURCE_DIR/daemon/alerts.h" | tr -d '"'
}
