#!/bin/bash
# The shipped bus policy, loaded into a real dbus-daemon with a system-bus style policy, while
# the real daemon owns org.transportcertd1 on it:
#   - an unprivileged user (nobody) may introspect, read properties and call the read-only
#     methods, but every mutating method, Properties.Set and owning the name are refused BY THE
#     BUS (org.freedesktop.DBus.Error.AccessDenied, "Rejected send message ...");
#   - root's mutating calls get through the bus (the daemon may still answer with a domain
#     error such as NoSuchCertificate: that is the daemon speaking, not the policy).
# The activation file must also be readable by the bus (ListActivatableNames).
#
# Needs root (to start the bus without <user> and to become nobody with setpriv).
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
require_command dbus-daemon dbus-send busctl setpriv cmake
[ "$(id -u)" = 0 ] || skip "starting a system-style bus and switching to nobody needs root"

name=org.transportcertd1
path=/org/transportcertd1
manager=org.transportcertd1.Manager

stage="$scratch/stage"
stage_install "$stage"
policy="$stage/usr/share/dbus-1/system.d/org.transportcertd1.conf"
services="$stage/usr/share/dbus-1/system-services"
[ -f "$policy" ] || fail "the policy is not installed at /usr/share/dbus-1/system.d/org.transportcertd1.conf"
[ -f "$services/org.transportcertd1.service" ] ||
	fail "the activation file is not installed at /usr/share/dbus-1/system-services/org.transportcertd1.service"

# nobody must reach the socket: the scratch directory is 0700 by default.
chmod 0755 "$scratch"
mkdir -m 0755 "$scratch/bus"
# The default policy of Debian's /usr/share/dbus-1/system.conf, a socket of our own, no <user>
# (we are root already), and the shipped policy file included as the system bus includes it.
cat >"$scratch/bus/system.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$scratch/bus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <include>$policy</include>
</busconfig>
CONF

say "starting a private system-style dbus-daemon with the shipped policy"
dbus-daemon --config-file="$scratch/bus/system.conf" --fork --print-address=3 --print-pid=4 \
	3>"$scratch/bus/address" 4>"$scratch/bus/pid" 2>"$scratch/bus/log" ||
	{ show "$scratch/bus/log"; fail "dbus-daemon did not start"; }
bus_pid=$(cat "$scratch/bus/pid")
stop_bus() { kill "$bus_pid" 2>/dev/null || true; }
on_exit stop_bus
address=$(head -n1 "$scratch/bus/address")
[ -n "$address" ] || fail "dbus-daemon printed no address"
ok "bus at $address (pid $bus_pid)"

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
bus() { busctl --address="$address" "$@"; }

activatable=$(bus call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ListActivatableNames)
grep -q "\"$name\"" <<<"$activatable" || fail "the bus does not read the activation file: $activatable"
ok "the activation file makes $name activatable"

# Everything above (the bus accepting the policy and the activation file) holds without the
# daemon; the rest needs it.
require_daemon
"$TRANSPORTCERTD_BIN" --version >/dev/null 2>&1 || fail "$TRANSPORTCERTD_BIN --version failed"

# The real daemon, on a private store, talking to that bus as its system bus.
state="$scratch/state"
mkdir -m 0700 "$state"
cat >"$scratch/transportcertd.conf" <<CONF
[daemon]
fqdn = mail.example.test
store = $state/store
state = $state

[selfsigned]
key = ec:P-256

[publish]
dir = $state/published
CONF
say "starting $TRANSPORTCERTD_BIN --bus system on that bus"
DBUS_SYSTEM_BUS_ADDRESS="$address" "$TRANSPORTCERTD_BIN" --config "$scratch/transportcertd.conf" \
	--bus system --log-target console >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
stop_daemon() {
	kill "$daemon_pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$daemon_pid" 2>/dev/null || true
	wait "$daemon_pid" 2>/dev/null || true
}
on_exit stop_daemon

owned=no
for _ in $(seq 100); do
	if bus call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s "$name" |
		grep -q true; then
		owned=yes
		break
	fi
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$owned" != yes ]; then
	show "$scratch/daemon.log"
	fail "the daemon did not own $name within 10 s"
fi
ok "the daemon owns $name"

# busctl prints only "Access denied" for any AccessDenied error; its debug log shows who sent
# the error and the message, which tells the bus's policy refusal from the daemon's own.
bus_refusal='type=error sender=org.freedesktop.DBus .*error-name=org.freedesktop.DBus.Error.AccessDenied error-message=\(Rejected send message\|Connection .* is not allowed to own\)'

# refused_by_bus DESCRIPTION BUSCTL-ARGS...: nobody's busctl call fails with the bus's refusal.
refused_by_bus() {
	local what=$1
	shift
	if as_nobody env SYSTEMD_LOG_LEVEL=debug busctl --address="$address" "$@" \
		>"$scratch/out" 2>"$scratch/err"; then
		show "$scratch/out"
		fail "nobody was allowed to $what"
	fi
	grep -q "$bus_refusal" "$scratch/err" ||
		{ grep -a 'Got message type=error' "$scratch/err" >&2; fail "$what was refused, but not by the bus policy"; }
}
# passes_bus [as_nobody] BUSCTL-ARGS...: the call is not refused by the bus policy; it may get a
# reply or an error from the daemon.
passes_bus() {
	local runner=()
	if [ "$1" = as_nobody ]; then
		runner=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
		shift
	fi
	"${runner[@]}" env SYSTEMD_LOG_LEVEL=debug busctl --address="$address" "$@" \
		>"$scratch/out" 2>"$scratch/err" || true
	if grep -q "$bus_refusal" "$scratch/err"; then
		grep -a 'Got message type=error' "$scratch/err" >&2
		fail "the bus refused: busctl $*"
	fi
	grep -aq 'Got message type=\(method_return\|error\) sender=:' "$scratch/err" ||
		{ tail -n 5 "$scratch/err" >&2; fail "no answer from the daemon to: busctl $*"; }
}
# answer: the reply or the daemon's error message of the last passes_bus, on one line.
answer() {
	if [ -s "$scratch/out" ]; then
		head -c 100 "$scratch/out" | tr '\n' ' '
	else
		sed -n 's/.*type=error sender=:.*error-name=\([^ ]*\) error-message=\(.\{0,80\}\).*/\1: \2/p' "$scratch/err" | tail -n1
	fi
}

say "as nobody: reading is allowed"
reads=(
	"get-property $name $path $manager Version"
	"call $name $path $manager ListCertificates"
	"call $name $path org.freedesktop.DBus.Properties GetAll s $manager"
	"call $name $path org.freedesktop.DBus.ObjectManager GetManagedObjects"
	"call $name $path org.freedesktop.DBus.Introspectable Introspect"
	"call $name $path org.freedesktop.DBus.Peer Ping"
)
for read in "${reads[@]}"; do
	# shellcheck disable=SC2086 # word splitting of $read is intended
	if ! as_nobody busctl --address="$address" $read >"$scratch/out" 2>&1; then
		show "$scratch/out"
		fail "nobody could not: busctl $read"
	fi
	ok "busctl $read"
done
# These may answer with a domain error (nothing to select in an empty store): fine, the daemon
# answered, the bus let the call through.
queries=(
	"SelectCertificate ss mail.example.test SMTP"
	"ExplainSelection ss mail.example.test SMTP"
	"GetCertificate s 0000000000000000000000000000000000000000"
)
for query in "${queries[@]}"; do
	# shellcheck disable=SC2086
	passes_bus as_nobody call "$name" "$path" "$manager" $query
	ok "${query%% *} passes the bus: $(answer)"
done

say "as nobody: changing is refused by the bus"
thumb=0000000000000000000000000000000000000000
mutating=(
	"EnableCertificate sasb $thumb 1 SMTP false"
	"DisableCertificate sas $thumb 1 SMTP"
	"NewSelfSignedCertificate as 0"
	"ImportCertificate sas not-a-pem 1 SMTP"
	"RemoveCertificate s $thumb"
	"RenewInternalTransportCertificate"
	"Reload"
)
for call in "${mutating[@]}"; do
	method=${call%% *}
	# shellcheck disable=SC2086
	refused_by_bus "call $method" call "$name" "$path" "$manager" $call
	# The same refusal as dbus-send reports it: error name and the bus's message.
	as_nobody dbus-send --bus="$address" --print-reply --dest="$name" "$path" "$manager.$method" \
		>"$scratch/out" 2>&1 || true
	grep -q '^Error org.freedesktop.DBus.Error.AccessDenied: Rejected send message' "$scratch/out" ||
		{ show "$scratch/out"; fail "$method: not org.freedesktop.DBus.Error.AccessDenied from the bus"; }
	ok "$method: org.freedesktop.DBus.Error.AccessDenied from org.freedesktop.DBus, \"Rejected send message\""
done
refused_by_bus "set a property" set-property "$name" "$path" "$manager" Fqdn s evil.example
ok "Properties.Set: rejected by the bus policy"
refused_by_bus "own $name" call org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus RequestName su "$name" 4
ok "RequestName $name: not allowed to own it"

say "as root: changing passes the bus (the daemon answers)"
for call in "${mutating[@]}"; do
	method=${call%% *}
	# shellcheck disable=SC2086
	passes_bus --timeout=60 call "$name" "$path" "$manager" $call
	ok "$method reaches the daemon: $(answer)"
done

kill -0 "$daemon_pid" 2>/dev/null || { show "$scratch/daemon.log"; fail "the daemon died during the test"; }
