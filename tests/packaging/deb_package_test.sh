#!/bin/bash
# The .deb: `cpack -G DEB` builds it; its control data (Depends, conffiles, maintainer
# scripts) and file list (paths, modes, owners) are checked; then it is installed on this
# machine with `dpkg -i`, checked in place (including `systemd-analyze verify` of the real
# installed unit), removed and purged, and nothing may be left behind but the certificate store
# (purge keeps it and says so). lintian must find no error in it.
#
# Installing for real runs the maintainer scripts on a machine without systemd as PID 1 and
# without a system bus, which they must survive while still recording the enablement. Needs
# root; refuses to touch a transportcertd package that is already installed.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command cpack dpkg dpkg-deb dpkg-query dpkg-shlibdeps systemd-analyze journalctl man
require_daemon
[ "$(id -u)" = 0 ] || skip "installing a package needs root"
if dpkg-query -W -f='${Status}' transportcertd 2>/dev/null | grep -qv 'not-installed'; then
	skip "a transportcertd package is installed on this machine; not touching it (dpkg -P transportcertd first)"
fi

unit=transportcertd.service
wants=/etc/systemd/system/multi-user.target.wants/$unit
conf=/etc/transportcertd/transportcertd.conf
# path mode: every file the package must ship, as `dpkg-deb -c` shows it.
expected="\
./usr/sbin/transportcertd -rwxr-xr-x
./usr/libexec/transportcertd/certbot-deploy-hook -rwxr-xr-x
./usr/bin/transportcertctl -rwxr-xr-x
./usr/share/bash-completion/completions/transportcertctl -rw-r--r--
./lib/systemd/system/transportcertd.service -rw-r--r--
./lib/systemd/system/transportcertd-verify.service -rw-r--r--
./lib/systemd/system/transportcertd-verify.timer -rw-r--r--
./usr/share/dbus-1/system.d/org.transportcertd1.conf -rw-r--r--
./usr/share/dbus-1/system-services/org.transportcertd1.service -rw-r--r--
./usr/lib/systemd/catalog/transportcertd.catalog -rw-r--r--
./etc/transportcertd/transportcertd.conf -rw-r--r--
./usr/share/man/man8/transportcertd.8.gz -rw-r--r--
./usr/share/man/man5/transportcertd.conf.5.gz -rw-r--r--
./usr/share/man/man1/transportcertctl.1.gz -rw-r--r--
./usr/share/transportcertd/prometheus/transportcertd.rules.yml -rw-r--r--"

say "cpack -G DEB"
if ! cpack -G DEB --config "$TRANSPORTCERTD_BUILD_DIR/CPackConfig.cmake" -B "$scratch/out" \
	>"$scratch/cpack.log" 2>&1; then
	show "$scratch/cpack.log"
	fail "cpack failed"
fi
deb=$(find "$scratch/out" -maxdepth 1 -name 'transportcertd_*.deb' 2>/dev/null | head -n1)
[ -n "$deb" ] || { show "$scratch/cpack.log"; fail "cpack wrote no transportcertd_*.deb"; }
ok "built $(basename "$deb")"

# --- lintian: no errors (warnings are printed, not fatal) ---
if command -v lintian >/dev/null 2>&1; then
	lintian --no-tag-display-limit "$deb" >"$scratch/lintian.log" 2>&1 || true
	if grep -q '^E: ' "$scratch/lintian.log"; then
		show "$scratch/lintian.log"
		fail "lintian reports errors"
	fi
	ok "lintian: no errors ($(grep -c '^W: ' "$scratch/lintian.log" || true) warnings)"
	grep '^W: ' "$scratch/lintian.log" | sed 's/^/    | /' || true
else
	fail "needs 'lintian' (see docs/packaging.md for the packages)"
fi

# --- control data ---
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = transportcertd ] || fail "Package: is '$(field Package)'"
depends=$(field Depends)
say "Depends: $depends"
for dep in dbus libc6 libsystemd0 libssl3 libuv1; do
	echo ", $depends," | grep -q "[, ]${dep}[ ,(]" || fail "Depends: lacks $dep"
done
ok "Depends: names dbus and the libraries found by dpkg-shlibdeps"

mkdir "$scratch/control"
dpkg-deb -e "$deb" "$scratch/control"
[ "$(cat "$scratch/control/conffiles")" = "$conf" ] ||
	fail "conffiles is '$(cat "$scratch/control/conffiles")', expected $conf"
ok "conffiles: $conf"
for script in postinst prerm postrm; do
	[ -x "$scratch/control/$script" ] || fail "no executable $script in the package"
	sh -n "$scratch/control/$script" || fail "$script is not valid sh"
done
ok "postinst, prerm and postrm are there and parse"

# --- file list ---
dpkg-deb -c "$deb" >"$scratch/contents"
while read -r path mode; do
	line=$(awk -v p="$path" '$6 == p' "$scratch/contents")
	[ -n "$line" ] || { show "$scratch/contents"; fail "the package lacks $path"; }
	# shellcheck disable=SC2086 # split the line into its fields
	set -- $line
	[ "$1" = "$mode" ] || fail "$path has mode $1, expected $mode"
	[ "$2" = root/root ] || fail "$path is owned by $2, expected root/root"
	ok "$mode root/root $path"
done <<<"$expected"
unexpected=$(awk '$1 !~ /^d/ {print $6}' "$scratch/contents" |
	grep -vxF "$(cut -d' ' -f1 <<<"$expected")" | grep -v '^\./usr/share/doc/transportcertd/' || true)
[ -z "$unexpected" ] || fail "the package ships files nobody expects: $unexpected"
bad_dirs=$(awk '$1 ~ /^d/ && ($1 != "drwxr-xr-x" || $2 != "root/root")' "$scratch/contents")
[ -z "$bad_dirs" ] || fail "directories not 0755 root/root: $bad_dirs"
ok "no other files; every directory 0755 root/root"

# --- install on this machine ---
installed=no
purge() {
	if [ "$installed" = yes ]; then
		dpkg -P transportcertd >/dev/null 2>&1 || true
	fi
}
on_exit purge

say "dpkg -i (no systemd as PID 1 here: the service must be enabled, not started)"
installed=yes
if ! dpkg -i "$deb" >"$scratch/install.log" 2>&1; then
	show "$scratch/install.log"
	fail "dpkg -i failed"
fi
grep -iE 'error|warning|not found' "$scratch/install.log" && fail "dpkg -i printed the above"
[ "$(dpkg-query -W -f='${Status}' transportcertd)" = "install ok installed" ] ||
	fail "status after dpkg -i: $(dpkg-query -W -f='${Status}' transportcertd)"
ok "dpkg -i: install ok installed, quietly"

dpkg -L transportcertd >"$scratch/listed"
while read -r path mode; do
	target=${path#.}
	grep -qxF "$target" "$scratch/listed" || fail "dpkg -L lacks $target"
	[ -f "$target" ] || fail "$target is not on disk"
	actual=$(stat -c %A "$target")
	[ "$actual" = "$mode" ] || fail "$target on disk has mode $actual, expected $mode"
done <<<"$expected"
ok "dpkg -L lists every expected file, each on disk with its mode"

dpkg-query -W -f='${Conffiles}\n' transportcertd | grep -q "^ $conf [0-9a-f]\{32\}$" ||
	fail "dpkg does not track $conf as a conffile"
ok "$conf is a conffile"

[ -L "$wants" ] || fail "postinst did not enable the unit ($wants is missing)"
ok "postinst enabled $unit (deb-systemd-helper, works without systemd running)"

journalctl --list-catalog 2>/dev/null | grep -q '^4d7621c7b2ab4e5bb01832a963a5a09a transportcertd' ||
	fail "postinst did not update the journal catalog"
ok "postinst updated the journal catalog"

hook=/usr/libexec/transportcertd/certbot-deploy-hook
if out=$(env -u RENEWED_LINEAGE "$hook" 2>&1); then
	fail "$hook succeeded without RENEWED_LINEAGE: $out"
fi
grep -q 'RENEWED_LINEAGE is not set' <<<"$out" || fail "$hook said: $out"
ok "$hook runs and says what it lacks"

[ "$(man -w transportcertd)" = /usr/share/man/man8/transportcertd.8.gz ] || fail "man transportcertd finds no page"
[ "$(man -w 5 transportcertd.conf)" = /usr/share/man/man5/transportcertd.conf.5.gz ] ||
	fail "man 5 transportcertd.conf finds no page"
[ "$(man -w transportcertctl)" = /usr/share/man/man1/transportcertctl.1.gz ] ||
	fail "man transportcertctl finds no page"
ok "man transportcertd, man 5 transportcertd.conf and man transportcertctl"
/usr/bin/transportcertctl --version | grep -q '^transportcertctl ' ||
	fail "the installed transportcertctl does not run"
ok "transportcertctl --version runs"

if ! /usr/sbin/transportcertd --check-config >"$scratch/check.log" 2>&1; then
	show "$scratch/check.log"
	fail "the installed daemon rejects the shipped $conf"
fi
ok "transportcertd --check-config accepts the shipped $conf"

if ! systemd-analyze verify "/lib/systemd/system/$unit" >"$scratch/verify.log" 2>&1 ||
	[ -s "$scratch/verify.log" ]; then
	show "$scratch/verify.log"
	fail "systemd-analyze verify of the installed unit"
fi
ok "systemd-analyze verify /lib/systemd/system/$unit is silent"

# --- remove, then purge ---
echo "# a local change" >>"$conf"
if ! dpkg -r transportcertd >"$scratch/remove.log" 2>&1; then
	show "$scratch/remove.log"
	fail "dpkg -r failed"
fi
[ "$(dpkg-query -W -f='${Status}' transportcertd)" = "deinstall ok config-files" ] ||
	fail "status after dpkg -r: $(dpkg-query -W -f='${Status}' transportcertd)"
if [ -e /usr/sbin/transportcertd ] || [ -e "/lib/systemd/system/$unit" ]; then
	fail "dpkg -r left the program or the unit"
fi
grep -q '^# a local change$' "$conf" || fail "dpkg -r did not keep the changed conffile"
ok "dpkg -r removed the files and kept the changed $conf"

# A key an administrator put in the store by hand: purge must keep it, and say so.
mkdir -p /var/lib/transportcertd/store /var/lib/transportcertd/published
echo "a private key" >/var/lib/transportcertd/store/by-hand.key
echo "a published file" >/var/lib/transportcertd/published/mail.example.com.pem
echo "internal-transport 0123" >/var/lib/transportcertd/bindings
on_exit "rm -rf /var/lib/transportcertd"
if ! dpkg -P transportcertd >"$scratch/purge.log" 2>&1; then
	show "$scratch/purge.log"
	fail "dpkg -P failed"
fi
installed=no
dpkg-query -W -f='${Status}' transportcertd 2>/dev/null | grep -q 'not-installed' ||
	[ -z "$(dpkg-query -W -f='${Status}' transportcertd 2>/dev/null)" ] ||
	fail "status after dpkg -P: $(dpkg-query -W -f='${Status}' transportcertd)"
grep -qx "transportcertd: purge kept the certificate store /var/lib/transportcertd/store (it holds private keys); remove it by hand when nothing needs them" "$scratch/purge.log" ||
	{ show "$scratch/purge.log"; fail "dpkg -P does not say that it kept the store"; }
[ "$(cat /var/lib/transportcertd/store/by-hand.key)" = "a private key" ] ||
	fail "dpkg -P lost a key put in the store by hand"
[ "$(ls -A /var/lib/transportcertd)" = store ] ||
	fail "dpkg -P left more than the store: $(ls -A /var/lib/transportcertd)"
ok "dpkg -P kept the store, said so, and removed the bindings and published files"
rm -rf /var/lib/transportcertd
for left in /etc/transportcertd /var/lib/transportcertd "$wants" "/etc/systemd/system/$unit" \
	/var/lib/systemd/deb-systemd-helper-enabled/$unit.dsh-also \
	/var/lib/systemd/deb-systemd-helper-masked/$unit; do
	if [ -e "$left" ] || [ -L "$left" ]; then fail "dpkg -P left $left"; fi
done
if journalctl --list-catalog 2>/dev/null | grep -q ' transportcertd: '; then
	fail "the journal catalog still lists transportcertd entries after purge"
fi
ok "dpkg -P left no file, enablement, mask or catalog entry behind"
