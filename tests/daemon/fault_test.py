#!/usr/bin/env python3
"""Fault tests of the transportcertd binary (see docs/reliability.md, Faults): what is left after the daemon
is killed in the middle of a takeover, when a disk fills up under a write, when the store
directory is replaced behind its back, and when the D-Bus daemon goes away.

They run the real binary the way daemon_integration_test.py does (see DaemonTest there) and look
at the files an administrator would look at. The full-disk tests mount a small tmpfs, so they
need root; they are skipped, saying so, when the mount is not possible.

The kill loop picks its kill points with a seeded random generator; the seed is printed, and
TRANSPORTCERTD_FAULT_SEED=<seed> replays a run.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd fault_test.py -v [Class[.test]]
"""

import calendar
import collections
import errno
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # importing the base class leaves no __pycache__ in the tree
from daemon_integration_test import (EXIT_TIMEOUT, FQDN, GENERATION_TIMEOUT, PICKUP_TIMEOUT,
                                     THUMBPRINT, DaemonTest, is_temporary, openssl, pem_blocks,
                                     thumbprint_of)

OTHER = "other.example.com"
LATER = "later.example.com"
UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                    "transportcertd.service.in")


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class KillDuringTakeover(DaemonTest):
    """SIGKILL at random points of takeover after takeover: nothing already in the store is lost
    or half-replaced, the designation always names a whole certificate with its key, and a
    restart removes what the killed write left behind."""

    ITERATIONS = 50
    # Every start takes over at once, since the designated certificate is due. Half the kills
    # come within CYCLE seconds of a start: start-up, the takeover and the wait for the next
    # renewal. The other half come within TAKEOVER seconds of the moment the takeover does its
    # work: the new certificate must be newer than every other, so the generation waits for the
    # second after the newest NotBefore in the store; key, write, designation, publication and
    # reload then take about 0.2 s here.
    CYCLE = 1.5
    TAKEOVER = 0.25
    # Every certificate is due for renewal a second after its NotBefore (NotAfter is
    # NotBefore + validity; renew_before a millisecond shorter than validity, as the
    # configuration must have it): one takeover after another, each published and reloaded,
    # none expired while the test runs.
    # No DANE rollover hold: each renewal proceeds as soon as it is due.
    CONFIG = {"monitor": {"renew_before": "59min 59s 999ms", "warn_before": "1s"},
              "selfsigned": {"validity": "1h"}, "dane": {"rollover_hold": "0"}}

    # The last of these in the log of a killed run says what the daemon was doing when killed.
    PHASES = [
        (r"^generating a self-signed", "generating and writing the certificate"),
        (r"^new internal transport certificate", "designated, publishing"),
        (r"^published ", "publishing"),
        (r"^running reload command", "running the reload command"),
        (r"^reload command finished", "waiting for the next renewal"),
    ]

    def setUp(self):
        super().setUp()
        self.verified = {}  # store file name -> sha256 of the contents verified whole
        self.newest_not_before = 0
        self.ever_designated = None

    def use_log(self, name):
        self.log_path = os.path.join(self.tmp, f"daemon-{name}.log")

    def phase_when_killed(self):
        phase = "starting up"
        for line in self.log_lines():
            for pattern, name in self.PHASES:
                if re.search(pattern, line.message):
                    phase = name
        return phase

    def check_store_file(self, name):
        """A new store file: one whole key and the certificate it belongs to, per openssl."""
        path = os.path.join(self.store, name)
        with open(path, encoding="ascii") as f:
            text = f.read()
        labels = [label for label, _ in pem_blocks(text)]
        self.assertEqual(labels, ["PRIVATE KEY", "CERTIFICATE"], f"{name}: {text!r}")
        thumbprint = thumbprint_of(pem_blocks(text)[1][1])
        self.assertEqual(name, f"transportcertd-{thumbprint}.pem")
        fingerprint = openssl("x509", "-noout", "-fingerprint", "-sha1", "-in", path)
        self.assertEqual(fingerprint.split("=")[1].strip().replace(":", ""), thumbprint)
        self.assertEqual(openssl("pkey", "-pubout", "-in", path),
                         openssl("x509", "-noout", "-pubkey", "-in", path),
                         f"{name}: the key belongs to the certificate")
        not_before = openssl("x509", "-noout", "-startdate", "-in", path).strip().split("=")[1]
        self.newest_not_before = max(self.newest_not_before, calendar.timegm(
            time.strptime(not_before, "%b %d %H:%M:%S %Y %Z")))
        return thumbprint

    def check_after_kill(self):
        """Checks the files a killed daemon left; returns the temporary files among them."""
        temporary = self.temporary_files()
        names = [n for n in os.listdir(self.store) if not is_temporary(n)]
        for name, digest in self.verified.items():
            self.assertIn(name, names, f"{name} was in the store before the kill")
            self.assertEqual(sha256_of(os.path.join(self.store, name)), digest,
                             f"{name} changed")
        thumbprints = set()
        for name in names:
            if name not in self.verified:
                self.check_store_file(name)
                self.verified[name] = sha256_of(os.path.join(self.store, name))
            thumbprints.add(name[len("transportcertd-"):-len(".pem")])

        bindings = os.path.join(self.state, "bindings")
        if os.path.exists(bindings):
            for line in self.read(bindings).splitlines():
                self.assertRegex(line, rf"^(#.*|internal-transport {THUMBPRINT}|"
                                       rf"services {THUMBPRINT}( (SMTP|IMAP|POP|HTTP))*)$",
                                 "a bindings line")
        designated = self.designated()
        if self.ever_designated is not None:
            self.assertIsNotNone(designated, "a designation once made is never lost")
        if designated is not None:
            self.assertIn(designated, thumbprints, "the designated certificate is in the store")
            self.ever_designated = designated

        for name in ("internal-transport.pem", f"{FQDN}.pem"):
            blocks = self.published_blocks(name)
            if blocks is not None:  # published whole, or not at all yet
                self.assertEqual([label for label, _ in blocks][:2],
                                 ["PRIVATE KEY", "CERTIFICATE"], name)
                self.assertIn(thumbprint_of(blocks[1][1]), thumbprints, name)
        return temporary

    def test_fifty_kills_during_takeovers_leave_a_consistent_store(self):
        seed = int(os.environ.get("TRANSPORTCERTD_FAULT_SEED", "20261130"))
        rng = random.Random(seed)
        print(f"\nkill loop: seed {seed} (TRANSPORTCERTD_FAULT_SEED={seed} replays it)",
              file=sys.stderr)
        self.write_config(self.CONFIG)
        phases = collections.Counter()
        left_temporary = collections.Counter()  # directory -> kills that left a temporary file
        began = time.monotonic()
        for i in range(self.ITERATIONS):
            # Every start takes over at once (the designated certificate is due), so a kill
            # point counted from the start falls anywhere in start-up, takeover and idling.
            stale = self.temporary_files()
            self.use_log(str(i))
            self.start()
            if rng.random() < 0.5:
                kill_in = rng.uniform(0, self.CYCLE)
            else:
                kill_in = max(0.0, self.newest_not_before + 1 - time.time()) + rng.uniform(
                    0, self.TAKEOVER)
            time.sleep(kill_in)  # the random kill point
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait(timeout=EXIT_TIMEOUT)
            phases[self.phase_when_killed()] += 1

            self.assertEqual(self.logged(r"^skipping "), [], "every store file is usable")
            if self.logged(r"^ready: "):  # start-up finished: what a killed write left is gone
                for path in stale:
                    self.assertFalse(os.path.exists(path), f"{path} is removed at start")
                if stale:
                    self.assertTrue(self.logged(r"^removed \d+ unfinished temporary file"),
                                    self.log_tail())
            for directory in {os.path.dirname(path) for path in self.check_after_kill()}:
                left_temporary[os.path.basename(directory)] += 1
        elapsed = time.monotonic() - began

        stale = self.temporary_files()
        self.use_log("last")
        self.start()
        self.wait_for_log(r"^ready: \d+ certificates?, 0 unusable files", timeout=GENERATION_TIMEOUT)
        for path in stale:
            self.assertFalse(os.path.exists(path), f"{path} is removed at start")
        self.assertEqual(self.stop(), 0, self.log_tail())
        self.check_after_kill()
        self.assertEqual(self.temporary_files(), [])
        self.assertIsNotNone(self.ever_designated)
        print(f"kill loop: {self.ITERATIONS} kills in {elapsed:.1f} s, "
              f"{len(self.verified)} certificates generated; kills that left a temporary file: "
              + (", ".join(f"{count} in {name}/" for name, count in left_temporary.items())
                 or "none")
              + "; killed while: "
              + ", ".join(f"{name} {count}" for name, count in phases.most_common()),
              file=sys.stderr)


class FullDisk(DaemonTest):
    """A write that fails for lack of space leaves the old files as they were, no temporary
    file, an alert naming the file, and is retried until it succeeds (docs/alerts.md)."""

    def mount_small_tmpfs(self, size="256k"):
        """A fresh tmpfs of `size` under the test directory; skips the test when there is none."""
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs to fill up needs root")
        mount = os.path.join(self.tmp, "small")
        os.makedirs(mount)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                                 mount], capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs: {result.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", mount], capture_output=True, timeout=30,
                        check=False)
        return mount

    @staticmethod
    def fill(directory):
        """Writes a file in `directory` until its file system is full; returns its path."""
        path = os.path.join(directory, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while True:
                try:
                    if os.write(fd, b"\0" * 4096) < 4096:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
        finally:
            os.close(fd)
        return path

    def contents(self, directory):
        """{name: bytes} of the regular files in `directory`."""
        found = {}
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    found[name] = f.read()
        return found

    def test_a_publication_that_finds_the_disk_full_is_retried_once_there_is_space(self):
        mount = self.mount_small_tmpfs()
        self.published = os.path.join(mount, "published")
        other = self.certs.make(OTHER)
        self.write_config({"publish": {"names": OTHER}})
        self.start()
        self.wait_for_first_internal_transport()
        before = self.contents(self.published)
        self.assertNotIn(f"{OTHER}.pem", before)

        # The filler is outside both watched directories: freeing it is no store event.
        filler = self.fill(mount)
        self.put_in_store("other.pem", other.pem)
        target = os.path.join(self.published, f"{OTHER}.pem")
        failed = self.wait_for_log(rf"^cannot publish {re.escape(target)}: could not write: "
                                   r"No space left on device; retrying in 1s$")
        self.assertEqual(failed[0].level, "error")
        # Retried on its own, with a longer delay each time.
        self.wait_for_log(rf"^cannot publish {re.escape(target)}: .*; retrying in 2s$",
                          timeout=PICKUP_TIMEOUT + 1)
        self.assertEqual(self.contents(self.published), before, "the published files as they were")
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(self.reload_count(), 1)

        os.remove(filler)
        self.wait_until(lambda: self.published_thumbprint(f"{OTHER}.pem") == other.thumbprint,
                        10.0, "the publication retried once there is space")
        self.assert_published_bundle(f"{OTHER}.pem", other.thumbprint)
        self.assertIn(f"{OTHER} {target}", self.read(os.path.join(self.published, "sni-map")))
        self.assert_reloads(2)
        self.assertEqual(self.temporary_files(), [])
        failures = len(self.logged(r"^cannot publish "))
        self.assert_stays(lambda: len(self.logged(r"^cannot publish ")) == failures,
                          "no more retries once published")
        self.assertEqual(self.stop(), 0)

    def test_a_certificate_that_finds_the_store_full_is_generated_again_once_there_is_space(self):
        mount = self.mount_small_tmpfs()
        self.store = os.path.join(mount, "store")
        self.start()
        old = self.wait_for_first_internal_transport()
        old_path = os.path.join(self.store, f"transportcertd-{old}.pem")
        published_before = self.contents(self.published)

        filler = self.fill(mount)
        # The internal transport certificate loses its key: the daemon must replace it, and
        # the replacement cannot be written.
        certificate_only = "".join(f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
                                   for label, body in re.findall(
                                       r"-----BEGIN ([A-Z ]+)-----\n(.*?)-----END \1-----\n",
                                       self.read(old_path), re.S) if label == "CERTIFICATE")
        with open(old_path, "w", encoding="ascii") as f:
            f.write(certificate_only)
        store_before = self.contents(self.store)
        failed = self.wait_for_log(
            rf"^generating a self-signed certificate failed: {re.escape(self.store)}/"
            rf"transportcertd-{THUMBPRINT}\.pem: could not write: No space left on device; "
            r"retrying in 10s$", timeout=GENERATION_TIMEOUT)
        self.assertEqual(failed[0].level, "error")
        self.assertEqual(self.contents(self.store), store_before, "the store as it was")
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(self.designated(), old)
        self.assertEqual(self.contents(self.published), published_before)

        os.remove(filler)
        line = self.wait_for_log(rf"^new internal transport certificate ({THUMBPRINT}) .*, "
                                 rf"replacing {old}: .*has no private key",
                                 timeout=10 + GENERATION_TIMEOUT)[0]
        self.assertGreaterEqual(line.when, failed[0].when + 9, "replaced by the retry")
        new = line.match.group(1)
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem") == new,
                        PICKUP_TIMEOUT, "the replacement published")
        self.wait_for_reloads_to_finish()  # every file of that publication written
        self.assertEqual(self.designated(), new)
        self.assertEqual(self.read(old_path), certificate_only, "the old certificate stays")
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(self.stop(), 0)


class StoreDirectoryReplaced(DaemonTest):
    """The store directory removed or moved away and a new one made in its place while the
    daemon runs: the daemon watches the new directory, takes its files, replaces the internal
    transport certificate that went away with the old one, and keeps answering."""

    def setUp(self):
        super().setUp()
        self.write_config({"publish": {"names": f"{OTHER} {LATER}"}})
        self.good = self.certs.make(OTHER)
        self.good_path = os.path.join(self.tmp, "good.pem")
        with open(self.good_path, "w", encoding="ascii") as f:
            f.write(self.good.pem)

    def internal_transport_over_dbus(self):
        out = self.busctl("get-property", "org.transportcertd1", "/org/transportcertd1",
                          "org.transportcertd1.Manager", "InternalTransportCertificate")
        return re.fullmatch(r's "([0-9A-F]*)"\s*', out).group(1)

    def assert_takes_over_and_watches_the_new_directory(self, old):
        line = self.wait_for_log(rf"^new internal transport certificate ({THUMBPRINT}) .*, "
                                 rf"replacing {old}: .*is missing from the store",
                                 timeout=GENERATION_TIMEOUT)[0]
        new = line.match.group(1)
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem") == new,
                        PICKUP_TIMEOUT, "the new internal transport certificate published")
        self.assertTrue(os.path.exists(os.path.join(self.store, f"transportcertd-{new}.pem")))
        self.wait_until(lambda: self.published_thumbprint(f"{OTHER}.pem") == self.good.thumbprint,
                        PICKUP_TIMEOUT, "the new directory's certificate published")
        # Still watching: a file dropped into the new directory later is picked up.
        later = self.certs.make(LATER)
        self.put_in_store("later.pem", later.pem)
        self.wait_until(lambda: self.published_thumbprint(f"{LATER}.pem") == later.thumbprint,
                        PICKUP_TIMEOUT, "a certificate dropped into the new directory published")
        self.assertEqual(self.internal_transport_over_dbus(), new, "still answering on D-Bus")
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(self.stop(), 0)

    def test_a_store_directory_removed_and_made_again_with_other_files_is_taken_up(self):
        self.start()
        old = self.wait_for_first_internal_transport()
        shutil.rmtree(self.store)
        os.makedirs(self.store, mode=0o700, exist_ok=True)  # the daemon may have been first
        shutil.copy(self.good_path, self.store)
        self.assert_takes_over_and_watches_the_new_directory(old)

    def test_a_store_directory_moved_away_and_replaced_by_a_new_one_is_taken_up(self):
        self.start()
        old = self.wait_for_first_internal_transport()
        os.rename(self.store, self.store + ".old")
        os.makedirs(self.store, mode=0o700, exist_ok=True)
        shutil.copy(self.good_path, self.store)
        self.assert_takes_over_and_watches_the_new_directory(old)
        self.assertTrue(os.path.exists(os.path.join(self.store + ".old",
                                                    f"transportcertd-{old}.pem")),
                        "the moved directory is left alone")


class BusLoss(DaemonTest):
    """The D-Bus daemon goes away: transportcertd exits non-zero at once, saying why, so that
    systemd (Restart=on-failure) starts it again on a working bus."""

    LOST = r"^stopping: lost the D-Bus connection \(.*\); exiting so that systemd restarts us$"

    def kill_bus_and_wait_for_the_exit(self, timeout=EXIT_TIMEOUT):
        os.kill(self.bus_pid, signal.SIGKILL)
        try:
            return self.daemon.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"still running {timeout} s after the bus went away\n" + self.log_tail())
        return None

    def test_the_unit_restarts_the_daemon_when_it_fails(self):
        with open(UNIT, encoding="utf-8") as f:
            unit = f.read()
        self.assertRegex(unit, r"(?m)^Restart=on-failure$")
        self.assertRegex(unit, r"(?m)^BusName=org\.transportcertd1$")

    def test_losing_the_bus_exits_non_zero_with_one_clear_message(self):
        self.start()
        self.wait_for_first_internal_transport()
        self.assertEqual(self.kill_bus_and_wait_for_the_exit(), 1, self.log_tail())
        lost = self.logged(self.LOST)
        self.assertEqual(len(lost), 1, self.log_tail())
        self.assertEqual(lost[0].level, "critical")
        self.assertEqual(self.temporary_files(), [])

    def test_losing_the_bus_during_a_generation_leaves_a_consistent_store(self):
        self.write_config({"selfsigned": {"key": "rsa:4096"}})
        self.start()
        self.wait_for_log(r"^generating a self-signed rsa:4096", timeout=GENERATION_TIMEOUT)
        self.assertEqual(self.kill_bus_and_wait_for_the_exit(timeout=60), 1, self.log_tail())
        self.assertEqual(len(self.logged(self.LOST)), 1, self.log_tail())
        self.assertEqual(self.temporary_files(), [])
        self.assert_generation_finished_or_left_nothing()


if __name__ == "__main__":
    unittest.main()
