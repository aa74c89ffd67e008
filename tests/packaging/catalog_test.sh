#!/bin/bash
# The installed journal catalog parses, and explains every MESSAGE_ID of daemon/alerts.h:
# `journalctl --root=TMP --update-catalog` builds TMP's catalog database from the installed
# file, then `--list-catalog` and `--dump-catalog` show each entry.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command journalctl cmake

stage="$scratch/stage"
stage_install "$stage"
installed="$stage/usr/lib/systemd/catalog/transportcertd.catalog"
[ -f "$installed" ] || fail "the catalog is not installed at /usr/lib/systemd/catalog/transportcertd.catalog"
ok "installed at /usr/lib/systemd/catalog/transportcertd.catalog"

root="$scratch/root"
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$installed" "$root/usr/lib/systemd/catalog/"
if ! journalctl --root="$root" --update-catalog >"$scratch/update.log" 2>&1 || [ -s "$scratch/update.log" ]; then
	show "$scratch/update.log"
	fail "journalctl --update-catalog complained"
fi
[ -s "$root/var/lib/systemd/catalog/database" ] || fail "no catalog database was written"
ok "journalctl --update-catalog built the database"

journalctl --root="$root" --list-catalog >"$scratch/list" 2>&1
ids=$(message_ids)
[ -n "$ids" ] || fail "found no MESSAGE_ID in daemon/alerts.h"
for id in $ids; do
	grep -q "^$id transportcertd: " "$scratch/list" || { show "$scratch/list"; fail "$id is not in the catalog"; }
	journalctl --root="$root" --dump-catalog "$id" >"$scratch/entry" 2>&1
	grep -qx 'Defined-By: transportcertd' "$scratch/entry" || fail "$id lacks Defined-By: transportcertd"
	grep -qx 'Support: man:transportcertd(8)' "$scratch/entry" || fail "$id lacks Support: man:transportcertd(8)"
	body=$(sed '1,/^$/d' "$scratch/entry" | wc -w)
	[ "$body" -ge 20 ] || fail "$id explains nothing (a body of $body words)"
	ok "$(grep "^$id" "$scratch/list")"
done
extra=$(cut -d' ' -f1 "$scratch/list" | grep -vxF "$ids" || true)
[ -z "$extra" ] || fail "catalog entries for ids the daemon does not define: $extra"
ok "$(echo "$ids" | wc -l) entries, one per alert kind"
