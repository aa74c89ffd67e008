#!/usr/bin/env python3
"""Hostile input, hangs and bounds (docs/reliability.md): nothing a caller or a file can do
makes the daemon grow without bound, hang or quote a file over D-Bus.

- An unprivileged caller (nobody, on a bus that lets every user connect) asks SelectCertificate
  for thousands of distinct names that only an expired certificate covers: the log gets at most
  100 "expired certificate selected" alerts and one summary line with the rest counted.
- A reload_command that hangs is killed with its whole process group after reload_timeout
  (TERM, then KILL), the failure is alerted and a reload that became due meanwhile runs next;
  on stop the group is terminated too. It sees a minimal environment.
- A FIFO or symlink among the daemon's own files is refused with an error naming the path and
  never hangs the loop; D-Bus errors never quote a file.
- --check-config refuses overlapping directories, control characters, colliding publish names
  and groups that do not exist (exit 78, FILE:LINE).
- A single-label fqdn and a group- or world-readable key in the store are warned about once at
  start and once per reload.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd hostile_test.py -v [Class[.test]]
"""

import os
import re
import signal
import stat
import subprocess
import sys
import time
import unittest

from daemon_integration_test import (DaemonTest, EX_CONFIG, FQDN, PICKUP_TIMEOUT,
                                     THUMBPRINT)

HERE = os.path.dirname(os.path.abspath(__file__))
FLOOD_CLIENT = os.path.join(HERE, "flood_client.py")
# A bus every local user may connect to (the D-Bus tests' policy).
OPEN_BUS_CONFIG = os.path.join(HERE, "..", "ipc", "test-bus.conf")
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

ALERT = r"the expired certificate ({}) is used until one is"
SUMMARY = r"^(\d+) more alerts? about expired certificates selected for names"
PER_HOUR = 100


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent may be gone or busy).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class ExpiredSelectionFlood(DaemonTest):
    """One alert per (certificate, name), at most 100 an hour, the rest in one summary line."""

    NAMES = 3000

    def start_private_bus(self):
        if os.geteuid() != 0:
            self.skipTest("calling as nobody needs root")
        os.chmod(self.tmp, 0o755)  # nobody must reach the socket
        return super().start_private_bus(OPEN_BUS_CONFIG)

    def flood(self, count, pattern):
        result = subprocess.run([*AS_NOBODY, sys.executable, FLOOD_CLIENT, self.bus_address,
                                 str(count), pattern], capture_output=True, text=True,
                                timeout=120, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    def test_a_flood_of_names_gives_at_most_100_alerts_and_one_summary(self):
        expired = self.certs.make("*.flood.example", not_before=time.time() - 90 * 86400,
                                  not_after=time.time() - 86400)
        self.put_in_store("expired.pem", expired.pem)
        self.start()
        self.wait_for_first_internal_transport()

        out = self.flood(self.NAMES, "h{}.flood.example")
        self.assertEqual(out, f"replies={self.NAMES} errors=0 first_error=")
        # The same names again, and a few of them over and over: nothing new.
        out = self.flood(self.NAMES, "h{}.flood.example")
        self.assertEqual(out, f"replies={self.NAMES} errors=0 first_error=")
        alerts = self.logged(ALERT.format(expired.thumbprint))
        self.assertEqual(len(alerts), PER_HOUR, self.log_tail())
        self.assertEqual(len({a.message.split(" ")[6] for a in alerts}), PER_HOUR,
                         "one alert per name")
        self.assertEqual(self.logged(SUMMARY), [], "the summary comes when the hour is over")

        # The log stays bounded whatever the callers do; at stop the hour's count is logged.
        self.assertEqual(self.stop(), 0)
        summaries = self.logged(SUMMARY)
        self.assertEqual(len(summaries), 1, self.log_tail())
        self.assertEqual(int(summaries[0].match.group(1)), self.NAMES - PER_HOUR)
        self.assertLess(len(self.log_lines()), 2 * PER_HOUR, "log lines in all")

    def test_one_alert_per_name_and_certificate(self):
        expired = self.certs.make("*.flood.example", not_before=time.time() - 90 * 86400,
                                  not_after=time.time() - 86400)
        self.put_in_store("expired.pem", expired.pem)
        self.start()
        self.wait_for_first_internal_transport()
        for _ in range(3):
            self.flood(5, "same.flood.example")
        self.busctl("call", "org.transportcertd1", "/org/transportcertd1",
                    "org.transportcertd1.Manager", "ExplainSelection", "ss",
                    "same.flood.example", "SMTP")
        self.assert_stays(lambda: len(self.logged(ALERT.format(expired.thumbprint))) == 1,
                          "exactly one alert for one name")


class HangingReloadCommand(DaemonTest):
    """reload_command: own process group, minimal environment, timeout, killed on stop."""

    OTHER = "other.example.com"

    def reload_config(self, command, timeout="1s"):
        self.write_config({"publish": {"reload_command": command, "reload_timeout": timeout,
                                       "names": self.OTHER}})

    def wait_for_pid(self, name):
        path = os.path.join(self.tmp, name)
        self.wait_until(lambda: os.path.exists(path) and self.read(path).strip(), PICKUP_TIMEOUT,
                        f"{name} written")
        return int(self.read(path).split()[0])

    def test_a_hanging_reload_command_is_killed_with_its_group_and_a_due_reload_runs_next(self):
        marker = os.path.join(self.tmp, "hung-once")
        script = os.path.join(self.tmp, "reload.sh")
        # The first run leaves a child behind that ignores SIGTERM, then waits forever; later
        # runs count themselves.
        with open(script, "w", encoding="ascii") as f:
            f.write(f"""env > '{self.tmp}/env'
if [ ! -e '{marker}' ]; then
  touch '{marker}'
  sh -c 'trap "" TERM; echo $$ > {self.tmp}/child; while :; do sleep 0.2; done' &
  sleep 300
fi
echo reload >> '{self.reloads}'
""")
        self.reload_config(f"sh '{script}'", timeout="3s")
        self.start(env={"TRANSPORTCERTD_TEST_SECRET": "do-not-pass-on"})
        self.wait_for_log(r"new internal transport certificate", timeout=15)
        child = self.wait_for_pid("child")

        # Meanwhile a certificate for a published name makes another reload due.
        other = self.certs.make(self.OTHER)
        self.put_in_store("other.pem", other.pem)
        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == other.thumbprint,
                        PICKUP_TIMEOUT, "the new certificate published")

        failed = self.wait_for_log(r"reload command .* failed: timed out after 3s", timeout=10)
        # TERM did not stop the child; KILL 5 s later did, and the due reload then ran.
        self.wait_until(lambda: not pid_alive(child), 15, "the child killed")
        self.assertEqual(len(failed), 1)
        self.assert_reloads(1, "runs of the reload command after the one that hung")
        self.assertEqual(len(self.logged(r"^running reload command: ")), 2, self.log_tail())

        env = dict(line.split("=", 1) for line in self.read(f"{self.tmp}/env").splitlines()
                   if "=" in line)
        self.assertNotIn("TRANSPORTCERTD_TEST_SECRET", env)
        self.assertNotIn("DBUS_SESSION_BUS_ADDRESS", env)
        self.assertIn("PATH", env)
        # tlsa: the new name's DANE records (docs/dane.md).
        self.assertEqual(env.get("TRANSPORTCERTD_CHANGED"), f"{self.OTHER}.pem sni-map tlsa")
        self.assertIsNone(self.daemon.poll())

    def test_the_first_reload_names_every_file_that_changed(self):
        self.reload_config(f"env > '{self.tmp}/env'; echo reload >> '{self.reloads}'")
        self.start()
        self.wait_for_first_internal_transport()
        env = dict(line.split("=", 1) for line in self.read(f"{self.tmp}/env").splitlines()
                   if "=" in line)
        self.assertEqual(sorted(env["TRANSPORTCERTD_CHANGED"].split(" ")),
                         sorted(["internal-transport.pem", f"{FQDN}.pem", "sni-map", "tlsa"]))

    def test_stopping_terminates_the_whole_group_of_a_running_reload_command(self):
        self.reload_config(f"sleep 300 & echo $! > '{self.tmp}/child'; wait", timeout="60s")
        self.start()
        self.wait_for_log(r"new internal transport certificate", timeout=15)
        child = self.wait_for_pid("child")
        self.assertTrue(pid_alive(child))
        self.assertEqual(self.stop(), 0)
        self.wait_until(lambda: not pid_alive(child), PICKUP_TIMEOUT,
                        "the reload command's child terminated", daemon_may_exit=True)


class OwnFiles(DaemonTest):
    """The daemon's own files: no symlinks followed, no blocking open, no contents over D-Bus."""

    def reload_over_bus(self):
        return subprocess.run(
            ["busctl", f"--address={self.bus_address}", "--timeout=5", "call",
             "org.transportcertd1", "/org/transportcertd1", "org.transportcertd1.Manager",
             "Reload"], capture_output=True, text=True, timeout=30, check=False)

    def test_a_fifo_in_place_of_a_published_file_is_replaced_without_a_hang(self):
        os.makedirs(self.published, mode=0o700)
        path = os.path.join(self.published, f"{FQDN}.pem")
        os.mkfifo(path)
        self.start()
        # (Reading a FIFO would hang this test too: wait until a file took its place.)
        self.wait_until(lambda: stat.S_ISREG(os.lstat(path).st_mode), 15, "the FIFO replaced")
        thumbprint = self.wait_for_first_internal_transport()
        self.wait_for_log(rf"{re.escape(path)}: not a regular file")
        self.assert_published_bundle(f"{FQDN}.pem", thumbprint)

    def test_a_fifo_in_place_of_the_bindings_is_an_error_naming_it(self):
        self.start()
        self.wait_for_first_internal_transport()
        bindings = os.path.join(self.state, "bindings")
        os.unlink(bindings)
        os.mkfifo(bindings)
        result = self.reload_over_bus()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"{bindings}: not a regular file", result.stderr)
        # Still serving.
        self.busctl("get-property", "org.transportcertd1", "/org/transportcertd1",
                    "org.transportcertd1.Manager", "CertificateCount")

    def test_a_symlinked_bindings_file_is_refused_and_not_quoted(self):
        self.start()
        self.wait_for_first_internal_transport()
        secret = os.path.join(self.tmp, "secret")
        with open(secret, "w", encoding="ascii") as f:
            f.write("SECRETLINE hello\n")
        bindings = os.path.join(self.state, "bindings")
        os.unlink(bindings)
        os.symlink(secret, bindings)
        result = self.reload_over_bus()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(bindings, result.stderr)
        self.assertNotIn("SECRETLINE", result.stderr)

    def test_a_garbage_bindings_file_is_not_quoted_over_the_bus(self):
        self.start()
        self.wait_for_first_internal_transport()
        self.write_file(os.path.join(self.state, "bindings"), "topsecret-value x\n")
        result = self.reload_over_bus()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"{self.state}/bindings:1", result.stderr)
        self.assertNotIn("topsecret", result.stderr)
        # The log, for the administrator, says what is wrong.
        self.wait_for_log(r"reload failed.*unknown keyword 'topsecret-value'")


class ConfigCrossChecks(DaemonTest):
    """--check-config refuses what would make the daemon misbehave later (exit 78)."""

    def check(self, changes=None, text=None):
        if text is None:
            text = self.config_text(changes)
        with open(self.config_path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return self.run_daemon("--config", self.config_path, "--check-config")

    def assert_refused(self, pattern, changes=None, text=None):
        rc, out, err = self.check(changes, text)
        self.assertEqual(rc, EX_CONFIG, out + err)
        self.assertRegex(err, rf"^{re.escape(self.config_path)}:\d+: .*{pattern}")

    def test_the_configuration_of_the_other_tests_passes(self):
        rc, out, err = self.check()
        self.assertEqual(rc, 0, err)

    def test_overlapping_directories_are_refused(self):
        self.assert_refused("inside", {"publish": {"dir": os.path.join(self.store, "published")}})
        self.assert_refused("inside", {"daemon": {"store": os.path.join(self.published, "s")}})
        self.assert_refused("same directory", {"publish": {"dir": self.store + "/"}})
        self.assert_refused("must not be /", {"daemon": {"store": "/"}})
        self.assert_refused("must not be /", {"daemon": {"state": "//"}})

    def test_control_characters_and_nul_are_refused(self):
        text = self.config_text().replace(f"store = {self.store}",
                                          f"store = {self.store}\0/etc")
        self.assert_refused("control character", text=text.encode())
        self.assert_refused("control character", {"publish": {"dir": self.published + "\x1b"}})

    def test_publish_names_that_collide_with_the_daemons_own_files_are_refused(self):
        self.assert_refused("internal-transport", {"publish": {"names": "internal-transport"}})
        self.assert_refused("sni-map", {"publish": {"names": "a.example sni-map"}})

    def test_groups_that_do_not_exist_are_refused(self):
        self.assert_refused("no-such-group-here",
                            {"daemon": {"admin_group": "no-such-group-here"}})
        self.assert_refused("no-such-group-here", {"publish": {"group": "no-such-group-here"}})
        rc, _, err = self.check({"daemon": {"admin_group": "nogroup"},
                                 "publish": {"group": "nogroup"}})
        self.assertEqual(rc, 0, err)


class StartWarnings(DaemonTest):
    """A single-label fqdn and readable keys are warned about at start and on each reload."""

    def test_a_single_label_fqdn_and_a_readable_key_are_warned_about_once_each(self):
        self.write_config({"daemon": {"fqdn": "vm"}})
        key = self.certs.make("readable.example.com")
        self.put_in_store("readable.pem", key.pem)
        path = os.path.join(self.store, "readable.pem")
        os.chmod(path, 0o644)
        self.start()
        self.wait_for_first_internal_transport_of("vm")
        fqdn = self.wait_for_log(r"fqdn \"vm\" has no dot")
        readable = self.wait_for_log(rf"{re.escape(path)}.*readable by .*chmod 600")
        self.assertEqual(readable[0].level, "warning")
        # A store event is not a start.
        self.put_in_store("another.pem", self.certs.make("another.example.com").pem)
        self.wait_until(lambda: self.certificate_count() == 3, PICKUP_TIMEOUT, "the new file seen")
        self.assertEqual(len(self.logged(r"fqdn \"vm\" has no dot")), 1)
        self.assertEqual(len(self.logged(rf"{re.escape(path)}.*chmod 600")), 1)
        # A reload says it again, once.
        self.send(signal.SIGHUP)
        self.wait_for_log(r"fqdn \"vm\" has no dot", count=2)
        self.wait_for_log(rf"{re.escape(path)}.*chmod 600", count=2)
        self.assert_stays(lambda: len(self.logged(rf"{re.escape(path)}.*chmod 600")) == 2,
                          "one warning per reload")
        self.assertEqual(len(fqdn), 1)
        self.assertIsNone(self.daemon.poll())

    def certificate_count(self):
        out = self.busctl("get-property", "org.transportcertd1", "/org/transportcertd1",
                          "org.transportcertd1.Manager", "CertificateCount")
        return int(out.split()[1])

    def wait_for_first_internal_transport_of(self, fqdn):
        self.wait_for_log(rf"new internal transport certificate ({THUMBPRINT})", timeout=15)
        self.wait_until(lambda: self.published_thumbprint(f"{fqdn}.pem"), PICKUP_TIMEOUT,
                        "the fqdn published")


if __name__ == "__main__":
    unittest.main()
