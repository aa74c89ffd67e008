#!/bin/bash
# The .deb under a real systemd, as an administrator meets it: a systemd booted in a container
# (systemd-nspawn over an overlay of this machine's root, which already holds every installed
# package; private network) gets the package with `dpkg -i`, and then:
#   enabled + active, READY=1 only with the files published; the system bus and its policy as
#   root and as nobody; an expiry alert, an unusable store file and a renewal read back with
#   `journalctl -x` (every catalog @FIELD@ present on every alert); `systemctl reload`; a
#   changed fqdn removes the old published file; the documented Postfix reload commands under
#   the sandbox (and `postfix reload` with the documented drop-in); `kill -9` and Restart=; a
#   bad config on reload (fails, keeps running) and at start (ends `failed`, FILE:LINE in
#   `systemctl status`, no restart loop); `apt purge` keeps the store and says so.
#
# Nothing on this machine changes: everything happens in the overlay's upper layer, which is
# unmounted and removed at the end, pass or fail. Skips (77) only where nspawn cannot run: not
# root, no overlay mount, or no systemd boots in the container.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command cpack systemd-nspawn nsenter mount umount setpriv python3 openssl
require_daemon
[ "$(id -u)" = 0 ] || skip "booting systemd in a container needs root"

began=$(date +%s)
unit=transportcertd.service
conf=/etc/transportcertd/transportcertd.conf
state=/var/lib/transportcertd
published=$state/published
fqdn=mail.example.com
postfix_reload="postmap -F hash:$published/sni-map && systemctl try-reload-or-restart postfix"

# --- the package ---
say "cpack -G DEB"
if ! cpack -G DEB --config "$TRANSPORTCERTD_BUILD_DIR/CPackConfig.cmake" -B "$scratch/out" \
	>"$scratch/cpack.log" 2>&1; then
	show "$scratch/cpack.log"
	fail "cpack failed"
fi
deb=$(find "$scratch/out" -name 'transportcertd_*.deb' 2>/dev/null | head -n1)
[ -n "$deb" ] || { show "$scratch/cpack.log"; fail "cpack wrote no transportcertd_*.deb"; }
ok "built $(basename "$deb")"

# --- the container ---
ct_dir=$scratch/ct
root=$ct_dir/root
mkdir -p "$ct_dir"/{upper,work,root}
nspawn_pid=""
mounted=no
stop_container() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -z "${pid1:-}" ] || nsenter -t "$pid1" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
		for _ in $(seq 100); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$nspawn_pid" 2>/dev/null || true
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	if [ "$mounted" = yes ]; then
		umount "$root" 2>/dev/null || umount -l "$root" || true
		mounted=no
	fi
}
on_exit stop_container

if ! mount -t overlay overlay -o "lowerdir=/,upperdir=$ct_dir/upper,workdir=$ct_dir/work" \
	"$root" 2>"$scratch/mount.log"; then
	skip "cannot mount an overlay of / here ($(cat "$scratch/mount.log")); nspawn cannot run"
fi
mounted=yes
# shellcheck disable=SC2016  # ${Status} is dpkg-query's, not the shell's
if chroot "$root" dpkg-query -W -f='${Status}' transportcertd 2>/dev/null | grep -q 'ok installed'; then
	skip "a transportcertd package is installed on this machine; the container would inherit it"
fi

# Prepared in the upper layer before boot: the package, no policy-rc.d (the host's refuses
# service starts), a Postfix that starts and uses the published files.
cp "$deb" "$root/root/transportcertd.deb"
[ ! -e "$root/usr/sbin/policy-rc.d" ] || mv "$root/usr/sbin/policy-rc.d" "$root/usr/sbin/policy-rc.d.off"
mkdir -p "$root/etc/postfix"
cat >"$root/etc/postfix/main.cf" <<EOF
compatibility_level = 3.6
myhostname = $fqdn
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
smtpd_tls_security_level = may
smtpd_tls_chain_files = $published/internal-transport.pem
tls_server_sni_maps = hash:$published/sni-map
EOF

say "booting systemd in the container"
systemd-nspawn -D "$root" --boot --register=no --keep-unit --machine=transportcertd-test \
	--private-network --console=pipe </dev/null >"$ct_dir/boot.log" 2>&1 &
nspawn_pid=$!
pid1=""
for _ in $(seq 100); do
	pid1=$(pgrep -P "$nspawn_pid" | head -n1 || true)
	[ -n "$pid1" ] && [ "$(cat "/proc/$pid1/comm" 2>/dev/null)" = systemd ] && break
	pid1=""
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$pid1" ]; then
	show "$ct_dir/boot.log"
	skip "systemd-nspawn could not boot a container here (see above)"
fi
ct() { nsenter -t "$pid1" -a "$@"; }
# PID 1 answers once its private socket exists; then wait for the boot to finish.
for _ in $(seq 300); do
	running=$(timeout 60 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>&1 || true)
	case "$running" in *"Failed to connect"*) sleep 0.1 ;; *) break ;; esac
done
case "$running" in
running | degraded) ok "systemd $(ct systemctl --version | awk 'NR==1 {print $2}') is up in the container ($running)" ;;
*)
	show "$ct_dir/boot.log"
	fail "the container's systemd is '$running'"
	;;
esac
ct systemctl start postfix.service >/dev/null 2>&1 || true

# Prints the unit's properties as NAME=value lines.
props() { ct systemctl show "$unit" -p "$(IFS=,; echo "$*")"; }
prop() { ct systemctl show "$unit" -p "$1" --value; }
# journal_since CURSOR-FILE ARGS...: the unit's journal since the cursor saved in the file.
mark() { ct journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p' >"$scratch/$1"; }
journal_since() {
	local cursor=$1
	shift
	ct journalctl -q --no-pager --after-cursor="$(cat "$scratch/$cursor")" "$@"
}
wait_for() {  # wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds
	local seconds=$1 what=$2
	shift 2
	for _ in $(seq $((seconds * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "waited $seconds s for $what"
}

# --- install ---
say "dpkg -i"
mark before-install
if ! ct dpkg -i /root/transportcertd.deb >"$scratch/install.log" 2>&1; then
	show "$scratch/install.log"
	fail "dpkg -i failed in the container"
fi
# postinst's `systemctl start` returns once the daemon sent READY=1: the files must be there.
ready_files=$(ct ls "$published" 2>&1 || true)
if ! echo "$ready_files" | grep -qx internal-transport.pem; then
	ct journalctl -u "$unit" --no-pager >"$scratch/journal.log" 2>&1 || true
	show "$scratch/journal.log"
	fail "READY=1 came before internal-transport.pem was published (published: $ready_files)"
fi
[ "$(ct systemctl is-enabled "$unit")" = enabled ] || fail "the unit is not enabled"
[ "$(ct systemctl is-active "$unit")" = active ] || { ct systemctl status "$unit" >&2 || true; fail "the unit is not active"; }
status=$(prop StatusText)
[[ "$status" =~ ^1\ certificate,\ 0\ unusable\ files,\ internal\ transport\ [0-9A-F]{8}…$ ]] ||
	fail "STATUS= is '$status'"
ok "dpkg -i: enabled, active, READY with internal-transport.pem published; status: $status"
host_fqdn_file=$(ct ls "$published" | grep -v -e '^internal-transport.pem$' -e '^sni-map$' -e '^tlsa$' -e '^\.' | head -n1)
[ -n "$host_fqdn_file" ] || fail "no <fqdn>.pem for the container's own FQDN"
ok "published for the container's FQDN: $host_fqdn_file"

# --- the system bus and the shipped policy ---
ct busctl --system call org.transportcertd1 /org/transportcertd1 org.transportcertd1.Manager \
	ListCertificates >"$scratch/list.root" 2>&1 || { show "$scratch/list.root"; fail "ListCertificates as root"; }
ct setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --system call org.transportcertd1 \
	/org/transportcertd1 org.transportcertd1.Manager ListCertificates >"$scratch/list.nobody" 2>&1 ||
	{ show "$scratch/list.nobody"; fail "ListCertificates as nobody"; }
cmp -s "$scratch/list.root" "$scratch/list.nobody" || fail "root and nobody see different lists"
if ct setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --system call org.transportcertd1 \
	/org/transportcertd1 org.transportcertd1.Manager RenewInternalTransportCertificate \
	>"$scratch/renew.nobody" 2>&1; then
	fail "nobody may renew the internal transport certificate"
fi
grep -q 'Access denied\|AccessDenied\|Rejected send message' "$scratch/renew.nobody" ||
	{ show "$scratch/renew.nobody"; fail "nobody's renewal was refused for another reason"; }
ok "system bus: root and nobody list certificates; nobody's RenewInternalTransportCertificate is denied"

# --- the administrator's configuration, applied with systemctl reload ---
ct systemctl is-active postfix@-.service >/dev/null || fail "Postfix did not start in the container"
write_conf() { ct sh -c "cat > $conf"; }
write_conf <<EOF
[daemon]
fqdn = $fqdn

[publish]
reload_command = $postfix_reload

[verify]
after_reload = 2s
EOF
mark before-reload
ct systemctl reload "$unit" || fail "systemctl reload with a good configuration"
wait_for 15 "the reload command to finish" sh -c \
	"nsenter -t $pid1 -a journalctl -q -u $unit --after-cursor='$(cat "$scratch/before-reload")' | grep -qE 'reload command (finished|.* failed)'"
journal_since before-reload -u "$unit" >"$scratch/reload.journal"
grep -q "reload command finished: exit status 0" "$scratch/reload.journal" ||
	{ show "$scratch/reload.journal"; fail "the documented Postfix reload command failed under the sandbox"; }
wait_for 10 "Postfix to reload" sh -c "nsenter -t $pid1 -a journalctl -q \
	-u postfix@-.service --after-cursor='$(cat "$scratch/before-reload")' | grep -q 'reload -- version'"
ct test -e "$published/sni-map.db" || fail "postmap -F wrote no sni-map.db"
ok "systemctl reload: '$postfix_reload' ran under the sandbox and Postfix reloaded"
ct test ! -e "$published/$host_fqdn_file" || fail "$host_fqdn_file is still published"
grep -q "removed $published/$host_fqdn_file: it is no longer published" "$scratch/reload.journal" ||
	{ show "$scratch/reload.journal"; fail "no log line for the removal of $host_fqdn_file"; }
ok "the fqdn changed: the daemon removed its old $host_fqdn_file"

# --- an expiry alert, an unusable file and a renewal, read back with journalctl -x ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=expiring.example.com" -addext "subjectAltName=DNS:expiring.example.com" \
	-keyout "$scratch/expiring.key" -out "$scratch/expiring.crt" 2>/dev/null
mark before-alerts
cat "$scratch/expiring.key" "$scratch/expiring.crt" | ct sh -c "umask 077; cat > $state/store/expiring.pem.tmp && mv $state/store/expiring.pem.tmp $state/store/expiring.pem"
echo "not a certificate" | ct sh -c "cat > $state/store/junk.pem"
renewed=$(ct busctl --system call org.transportcertd1 /org/transportcertd1 \
	org.transportcertd1.Manager RenewInternalTransportCertificate | awk '{print $2}' | tr -d '"')
[[ "$renewed" =~ ^[0-9A-F]{40}$ ]] || fail "RenewInternalTransportCertificate answered '$renewed'"
wait_for 15 "the alerts in the journal" sh -c "nsenter -t $pid1 -a journalctl -q -u $unit \
	--after-cursor='$(cat "$scratch/before-alerts")' -o verbose | grep -q MESSAGE_ID=30b9c60e4cc84fd3a00e3177ad6fd7ae"
journal_since before-alerts -x -u "$unit" >"$scratch/alerts.x"
for expected in "TLS certificate CN=expiring.example.com expires in less than 3d" \
	"Unusable file in the certificate store: $state/store/junk.pem" \
	"New internal transport certificate $renewed" \
	"The certificate $renewed (CN="; do
	grep -qF -- "$expected" "$scratch/alerts.x" || { show "$scratch/alerts.x"; fail "journalctl -x lacks: $expected"; }
done
if grep -q '@TRANSPORTCERTD_\|(TRANSPORTCERTD_[A-Z_]*)\|(unknown)' "$scratch/alerts.x"; then
	show "$scratch/alerts.x"
	fail "journalctl -x shows a field it does not have"
fi
ok "journalctl -x: the expiry alert, the unusable file and the renewal, explained, every field filled in"
wait_for 10 "$fqdn.pem published" ct test -s "$published/$fqdn.pem"
ok "the renewed certificate, made for the new fqdn, is published as $fqdn.pem"

# --- the renewal was published and Postfix reloaded: the daemon starts the verify unit ---
verify_unit=transportcertd-verify.service
wait_for 30 "$verify_unit to find the renewal served" sh -c "nsenter -t $pid1 -a journalctl -q \
	-u $verify_unit --after-cursor='$(cat "$scratch/before-alerts")' | grep -qE ' 25/smtp +$fqdn +SMTP +${renewed:0:12} +${renewed:0:12} +match$'"
journal_since before-alerts -u "$verify_unit" >"$scratch/verify.journal"
journal_since before-alerts -u "$unit" >"$scratch/renewal.journal"
grep -q "started $verify_unit" "$scratch/renewal.journal" ||
	{ show "$scratch/renewal.journal"; fail "the daemon did not say it started $verify_unit"; }
wait_for 10 "$verify_unit to finish" sh -c \
	"[ \"\$(nsenter -t $pid1 -a systemctl show -P ActiveState $verify_unit)\" = inactive ]"
[ "$(ct systemctl show -P Result "$verify_unit")" = success ] ||
	{ show "$scratch/verify.journal"; fail "$verify_unit did not succeed"; }
ok "$verify_unit started by the daemon after the reload, in its sandbox: 25/smtp $fqdn ${renewed:0:12} match"

# A name Postfix has no SNI entry for and the daemon selects nothing for: it differs, and
# --journal logs it with the verify MESSAGE_ID, explained by its catalog entry.
mark before-verify
if ct transportcertctl --no-pager verify --journal --endpoint 25/smtp other.example.com \
	>"$scratch/verify.out" 2>&1; then
	show "$scratch/verify.out"
	fail "verify of a name served differently exited 0"
fi
grep -qE "^25/smtp +other.example.com +SMTP +- +[0-9A-F]{12} +differs$" "$scratch/verify.out" ||
	{ show "$scratch/verify.out"; fail "verify did not report the difference"; }
# (journalctl finds nothing with --after-cursor and a match together: the match is grep's.)
wait_for 10 "the verify journal entry" sh -c "nsenter -t $pid1 -a journalctl -q -o verbose \
	--after-cursor='$(cat "$scratch/before-verify")' | grep -q MESSAGE_ID=0f6f28cf9ecb488cb069e0c8578f4862"
journal_since before-verify -x >"$scratch/verify.x"
count=$(journal_since before-verify -o verbose | grep -c MESSAGE_ID=0f6f28cf9ecb488cb069e0c8578f4862 || true)
[ "$count" = 1 ] || fail "the difference was logged $count times, not once"
grep -qF "25/smtp serves another certificate than the one selected for other.example.com" \
	"$scratch/verify.x" || { show "$scratch/verify.x"; fail "journalctl -x does not explain the difference"; }
if grep -q '@TRANSPORTCERTD_' "$scratch/verify.x"; then
	show "$scratch/verify.x"
	fail "journalctl -x shows a verify field the entry does not have"
fi
ok "verify --journal: the difference logged once, explained by journalctl -x"

# Every alert so far, against the shipped catalog: each @FIELD@ of its entry is present.
ct journalctl -q -u "$unit" -o json >"$scratch/journal.json"
python3 - "$TRANSPORTCERTD_SOURCE_DIR/packaging/transportcertd.catalog" "$scratch/journal.json" <<'EOF' ||
import json, re, sys
catalog, current = {}, None
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"^-- ([0-9a-f]{32})\s*$", line)
    if m:
        current = catalog.setdefault(m.group(1), set())
    elif current is not None and not line.startswith("#"):
        current.update(re.findall(r"@([A-Z0-9_]+)@", line))
seen, missing = {}, []
for line in open(sys.argv[2], encoding="utf-8"):
    entry = json.loads(line)
    mid = entry.get("MESSAGE_ID")
    if mid not in catalog:
        continue
    seen[mid] = seen.get(mid, 0) + 1
    for field in sorted(catalog[mid]):
        if not entry.get(field) or entry[field] == "(unknown)":
            missing.append(f"{mid} lacks {field}: {entry.get('MESSAGE')}")
print("\n".join(missing))
print("alerts checked: " + ", ".join(f"{k[:8]}… x{v}" for k, v in sorted(seen.items())))
sys.exit(1 if missing or len(seen) < 3 else 0)
EOF
	fail "an alert lacks a field its catalog entry shows (or fewer than 3 kinds were raised)"
ok "every alert carries every @FIELD@ of its catalog entry"

# --- `postfix reload` instead of systemctl: fails as shipped, works with the documented drop-in ---
ct sed -i "s|^reload_command = .*|reload_command = postmap -F hash:$published/sni-map \&\& postfix reload|" "$conf"
mark before-postfix-reload
ct systemctl reload "$unit"
ct busctl --system call org.transportcertd1 /org/transportcertd1 \
	org.transportcertd1.Manager RenewInternalTransportCertificate >/dev/null
wait_for 15 "the reload command to fail" sh -c "nsenter -t $pid1 -a journalctl -q -u $unit \
	--after-cursor='$(cat "$scratch/before-postfix-reload")' | grep -q 'reload command .* failed'"
ok "'postfix reload' fails under the shipped sandbox, with an alert"
ct mkdir -p /etc/systemd/system/$unit.d
ct sh -c "cat > /etc/systemd/system/$unit.d/postfix-reload.conf" <<'EOF'
[Service]
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_SETUID CAP_SETGID CAP_KILL
SystemCallFilter=@setuid
ReadWritePaths=/var/spool/postfix
EOF
ct systemctl daemon-reload
ct systemctl restart "$unit"
mark before-postfix-dropin
ct busctl --system call org.transportcertd1 /org/transportcertd1 \
	org.transportcertd1.Manager RenewInternalTransportCertificate >/dev/null
wait_for 15 "the reload command to finish" sh -c "nsenter -t $pid1 -a journalctl -q -u $unit \
	--after-cursor='$(cat "$scratch/before-postfix-dropin")' | grep -qE 'reload command (finished|.* failed)'"
journal_since before-postfix-dropin -u "$unit" >"$scratch/dropin.journal"
grep -q "reload command finished: exit status 0" "$scratch/dropin.journal" ||
	{ show "$scratch/dropin.journal"; fail "'postfix reload' failed with the documented drop-in"; }
for _ in $(seq 100); do
	journal_since before-postfix-dropin >"$scratch/dropin-all.journal"
	grep -q 'postfix/master.*reload -- version' "$scratch/dropin-all.journal" && break
	sleep 0.1
done
grep -q 'postfix/master.*reload -- version' "$scratch/dropin-all.journal" ||
	{ show "$scratch/dropin-all.journal"; fail "Postfix did not reload through 'postfix reload'"; }
ok "'postfix reload' works with the documented drop-in"
ct rm -r /etc/systemd/system/$unit.d
ct systemctl daemon-reload
ct sed -i "s|^reload_command = .*|reload_command = ${postfix_reload//&/\\&}|" "$conf"

# --- systemctl reload with a bad configuration: fails, keeps the running one ---
ct cp "$conf" /root/good.conf
ct sh -c "printf '[monitor]\nwarn_before = soon\n' >> $conf"
line=$(ct grep -n '^warn_before = soon' "$conf" | cut -d: -f1)
pid_before=$(prop MainPID)
mark before-bad-reload
if ct systemctl reload "$unit" 2>"$scratch/bad-reload.err"; then
	fail "systemctl reload with a bad configuration succeeded"
fi
# shellcheck disable=SC2015  # fail when either test is false
[ "$(ct systemctl is-active "$unit")" = active ] && [ "$(prop MainPID)" = "$pid_before" ] ||
	fail "a bad reload stopped the daemon"
journal_since before-bad-reload -u "$unit" | grep -q "reload failed, keeping the running configuration: $conf:$line:" ||
	{ journal_since before-bad-reload -u "$unit" >&2; fail "the journal lacks the reason with $conf:$line"; }
ok "systemctl reload with a bad config fails, the daemon keeps running; journal: $conf:$line: ..."

# --- kill -9: Restart= brings it back ---
ct cp /root/good.conf "$conf"
restarts=$(prop NRestarts)
pid_before=$(prop MainPID)
ct kill -9 "$pid_before"
wait_for 30 "Restart= to bring the daemon back" sh -c \
	"[ \"\$(nsenter -t $pid1 -a systemctl show $unit -p NRestarts --value)\" = $((restarts + 1)) ] &&
	 nsenter -t $pid1 -a systemctl is-active -q $unit"
ok "kill -9 $pid_before: Restart= brought it back as $(prop MainPID)"

# --- a bad configuration at start: failed, FILE:LINE in systemctl status, not restarted ---
ct sh -c "printf '[monitor]\nwarn_before = soon\n' >> $conf"
if ct systemctl restart "$unit" 2>/dev/null; then
	fail "the daemon started with a bad configuration"
fi
sleep 1  # a restart loop would show as activating (auto-restart) by now
props ActiveState SubState Result ExecMainStatus >"$scratch/failed.props"
# shellcheck disable=SC2015  # fail when either test is false
grep -qx ActiveState=failed "$scratch/failed.props" && grep -qx ExecMainStatus=78 "$scratch/failed.props" ||
	{ show "$scratch/failed.props"; fail "a bad configuration does not leave the unit failed with 78"; }
ct systemctl status "$unit" >"$scratch/status.txt" 2>&1 || true
grep -q "$conf:$line: " "$scratch/status.txt" ||
	{ show "$scratch/status.txt"; fail "systemctl status does not show $conf:$line"; }
ok "bad config at start: $(tr '\n' ' ' <"$scratch/failed.props")and systemctl status shows $conf:$line"
sed -n "/${conf//\//\\/}:$line/p" "$scratch/status.txt" | sed 's/^/    | /'
ct cp /root/good.conf "$conf"
ct systemctl reset-failed "$unit"
ct systemctl start "$unit" || fail "the fixed configuration does not start"

# --- apt purge ---
if ! ct env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q transportcertd >"$scratch/purge.log" 2>&1; then
	show "$scratch/purge.log"
	fail "apt-get purge failed"
fi
grep -qF "transportcertd: purge kept the certificate store $state/store (it holds private keys); remove it by hand when nothing needs them" "$scratch/purge.log" ||
	{ show "$scratch/purge.log"; fail "apt purge does not say that it kept the store"; }
ct test -s "$state/store/expiring.pem" || fail "apt purge lost a key put in the store by hand"
left=$(ct ls -A "$state")
[ "$left" = store ] || fail "apt purge left more than the store in $state: $left"
ct test ! -e /etc/transportcertd || fail "apt purge left /etc/transportcertd"
ok "apt purge: configuration, bindings and published files gone; the store kept, and said so"

ok "wall time $(($(date +%s) - began)) s"
