#!/bin/bash
# `systemd-analyze verify` of the installed transportcertd.service.
#
# verify insists that ExecStart='s binary exists on this machine, and a test must not put
# anything into /usr/sbin. So the build is installed into a scratch DESTDIR and a copy of the
# installed unit is verified in which exactly one thing changes: ExecStart= names the staged
# binary instead of /usr/sbin/transportcertd. MANPATH points at the staged man pages, so the
# Documentation= check of verify finds transportcertd(8) and transportcertd.conf(5) as well.
# (The .deb test verifies the real /lib/systemd/system/transportcertd.service after dpkg -i.)
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command systemd-analyze cmake man
require_daemon

stage="$scratch/root"
stage_install "$stage"
unit="$stage/lib/systemd/system/transportcertd.service"
[ -f "$unit" ] || fail "the unit is not installed at /lib/systemd/system/transportcertd.service"
ok "installed at /lib/systemd/system/transportcertd.service"

grep -qx 'ExecStart=/usr/sbin/transportcertd --log-target journal' "$unit" ||
	fail "ExecStart= does not run /usr/sbin/transportcertd: $(grep ExecStart= "$unit")"
ok "ExecStart= runs /usr/sbin/transportcertd"

mkdir "$scratch/verify"
copy="$scratch/verify/transportcertd.service"
sed "s|^ExecStart=/usr/sbin/transportcertd|ExecStart=$stage/usr/sbin/transportcertd|" "$unit" >"$copy"
changed=$(diff "$unit" "$copy" | grep -c '^>' || true)
[ "$changed" = 1 ] || fail "rewriting ExecStart= changed $changed lines, expected 1"

for setting in Type=notify BusName=org.transportcertd1 Restart=on-failure \
	StateDirectory=transportcertd StateDirectoryMode=0700 ConfigurationDirectory=transportcertd \
	ProtectSystem=strict NoNewPrivileges=yes RestrictAddressFamilies=AF_UNIX \
	ReadWritePaths=-/var/lib/prometheus/node-exporter \
	'ExecReload=/usr/bin/busctl call org.transportcertd1 /org/transportcertd1 org.transportcertd1.Manager Reload'; do
	grep -qx "$setting" "$unit" || fail "the unit lacks '$setting'"
done
grep -q '^WatchdogSec=' "$unit" || fail "the unit lacks WatchdogSec="
ok "notify type, bus name, synchronous reload, watchdog, restart and state directory are set"

say "systemd-analyze verify (ExecStart= pointed at the staged binary)"
if ! MANPATH="$stage/usr/share/man" systemd-analyze verify "$copy" >"$scratch/verify.log" 2>&1; then
	show "$scratch/verify.log"
	fail "systemd-analyze verify reported errors"
fi
if [ -s "$scratch/verify.log" ]; then
	show "$scratch/verify.log"
	fail "systemd-analyze verify printed warnings"
fi
ok "systemd-analyze verify is silent"

# --- transportcertd-verify.service and .timer ---
vunit="$stage/lib/systemd/system/transportcertd-verify.service"
vtimer="$stage/lib/systemd/system/transportcertd-verify.timer"
# shellcheck disable=SC2015  # fail when either test is false
[ -f "$vunit" ] && [ -f "$vtimer" ] ||
	fail "transportcertd-verify.service and .timer are not installed in /lib/systemd/system"
ok "transportcertd-verify.service and .timer installed in /lib/systemd/system"
for setting in Type=oneshot 'ExecStart=/usr/bin/transportcertctl --no-pager verify --journal' \
	IPAddressAllow=localhost IPAddressDeny=any NoNewPrivileges=yes \
	ProtectSystem=strict 'CapabilityBoundingSet=' ReadWritePaths=-/var/lib/prometheus/node-exporter; do
	grep -qx -- "$setting" "$vunit" || fail "transportcertd-verify.service lacks '$setting'"
done
grep -qx 'OnCalendar=daily' "$vtimer" || fail "the timer does not run daily"
grep -qx 'WantedBy=timers.target' "$vtimer" || fail "the timer is not wanted by timers.target"
ok "oneshot, loopback only, no capabilities; the timer runs it daily"

mkdir "$scratch/verify-units"
vcopy="$scratch/verify-units/transportcertd-verify.service"
sed "s|^ExecStart=/usr/bin/transportcertctl|ExecStart=$stage/usr/bin/transportcertctl|" "$vunit" >"$vcopy"
cp "$vtimer" "$scratch/verify-units/"
changed=$(diff "$vunit" "$vcopy" | grep -c '^>' || true)
[ "$changed" = 1 ] || fail "rewriting ExecStart= of the verify unit changed $changed lines, expected 1"
say "systemd-analyze verify transportcertd-verify.service and .timer"
if ! MANPATH="$stage/usr/share/man" systemd-analyze verify "$vcopy" \
	"$scratch/verify-units/transportcertd-verify.timer" >"$scratch/verify-units.log" 2>&1; then
	show "$scratch/verify-units.log"
	fail "systemd-analyze verify reported errors for the verify units"
fi
if [ -s "$scratch/verify-units.log" ]; then
	show "$scratch/verify-units.log"
	fail "systemd-analyze verify printed warnings for the verify units"
fi
ok "systemd-analyze verify of the verify service and timer is silent"
