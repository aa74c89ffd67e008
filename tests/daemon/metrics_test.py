#!/usr/bin/env python3
"""Integration tests of the metrics file (`[metrics] textfile`, docs/metrics.md): the real daemon
writes it, `promtool check metrics` (package prometheus) accepts it, a real node_exporter
(package prometheus-node-exporter) serves it, and store changes, expiry crossings, failures and
a kill -9 in the middle of writes end up as they should.

They run the real binary the way daemon_integration_test.py does (see DaemonTest there). Every
wait polls for the eventual content of the file up to a deadline; nothing is timed.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd metrics_test.py -v [Class[.test]]
"""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # importing the base class leaves no __pycache__ in the tree
from daemon_integration_test import DaemonTest as IntegrationTest
from daemon_integration_test import FQDN, GENERATION_TIMEOUT, PICKUP_TIMEOUT, THUMBPRINT

NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
OTHER = "other.example.com"


def unescape(value):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_exposition(text):
    """[(name, {label: value}, value)] of the samples in exposition text (format 0.0.4)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels = {}
        if m.group(2):
            end = 0
            for lm in LABEL.finditer(m.group(2)):
                if lm.start() != end:
                    raise ValueError(f"bad labels in {line!r}")
                labels[lm.group(1)] = unescape(lm.group(2))
                end = lm.end()
            if end != len(m.group(2)):
                raise ValueError(f"bad labels in {line!r}")
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def promtool_check(text):
    """(exit code, output) of `promtool check metrics` on `text`."""
    result = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=60, check=False)
    return result.returncode, (result.stdout + result.stderr).decode(errors="replace")


class DaemonTest(IntegrationTest):
    """The integration test base with a textfile directory of its own and helpers to read the
    metrics file. (Named so because tests/daemon/CMakeLists.txt registers the classes that
    derive from a DaemonTest with ctest.)"""

    def setUp(self):
        super().setUp()
        self.textfile_dir = os.path.join(self.tmp, "node-exporter")
        os.makedirs(self.textfile_dir)
        self.textfile = os.path.join(self.textfile_dir, "transportcertd.prom")

    def write_config(self, changes=None, text=None):
        changes = dict(changes or {})
        changes.setdefault("metrics", {"textfile": self.textfile})
        super().write_config(changes, text)

    def metrics_text(self):
        try:
            return self.read(self.textfile)
        except FileNotFoundError:
            return None

    def samples(self, series, **labels):
        """The samples of `series` whose labels include `labels`: [(labels, value)]."""
        text = self.metrics_text()
        if text is None:
            return []
        return [(l, v) for n, l, v in parse_exposition(text)
                if n == series and all(l.get(k) == val for k, val in labels.items())]

    def value(self, series, **labels):
        """The value of the one sample of `series` with `labels`, or None."""
        found = self.samples(series, **labels)
        return found[0][1] if len(found) == 1 else None

    def wait_for_value(self, series, expected, timeout=PICKUP_TIMEOUT, **labels):
        self.wait_until(lambda: self.value(series, **labels) == expected, timeout,
                        f"{series}{labels} = {expected} in the metrics file",
                        on_timeout=lambda: f"it is {self.value(series, **labels)}:\n"
                        + (self.metrics_text() or "(no file)"))

    def assert_promtool_accepts_the_file(self):
        code, output = promtool_check(self.metrics_text())
        self.assertEqual((code, output), (0, ""), self.metrics_text())

    def textfile_dir_listing(self):
        return sorted(os.listdir(self.textfile_dir))


class WrittenFile(DaemonTest):
    """The file follows the store and passes promtool; nothing polls."""

    def test_the_file_passes_promtool_and_follows_store_changes(self):
        self.write_config({"publish": {"names": OTHER}})
        self.start()
        internal = self.wait_for_first_internal_transport()
        self.wait_for_value("transportcertd_selected_info", 1, name=FQDN, service="SMTP",
                            thumbprint=internal)
        self.assert_mode(self.textfile, 0o644)
        self.assert_promtool_accepts_the_file()
        self.assertEqual(self.value("transportcertd_certificate_info", thumbprint=internal,
                                    status="Valid", services="SMTP", self_signed="true",
                                    internal_transport="true"), 1)
        not_after = self.value("x509_cert_not_after", thumbprint=internal, subject_CN=FQDN,
                               issuer_CN=FQDN)
        self.assertIsNotNone(not_after, self.metrics_text())
        self.assertEqual(self.value("transportcertd_internal_transport_not_after"), not_after)
        self.assertEqual(self.value("x509_cert_expired", thumbprint=internal), 0)
        self.assertEqual(self.value("transportcertd_unusable_files"), 0)
        self.assertEqual(self.value("transportcertd_generation_failures_total"), 0)
        self.assertEqual(self.value("transportcertd_reload_failures_total"), 0)
        self.assertGreater(self.value("transportcertd_last_reload_success_timestamp_seconds"),
                           time.time() - 600)
        self.assertEqual(len(self.samples("transportcertd_build_info")), 1)
        self.assertEqual(self.samples("transportcertd_selected_info", name=OTHER), [])

        # Nothing changes, so the file is not written again: no polling timer.
        written = os.stat(self.textfile)
        self.assert_stays(lambda: os.stat(self.textfile).st_mtime_ns == written.st_mtime_ns
                          and os.stat(self.textfile).st_ino == written.st_ino,
                          "the metrics file is left alone while nothing changes")

        # A certificate added for a published name.
        other = self.certs.make(OTHER)
        self.put_in_store("other.pem", other.pem)
        self.wait_for_value("transportcertd_selected_info", 1, name=OTHER, service="SMTP",
                            thumbprint=other.thumbprint)
        serial = int(re.sub(r"\s", "", self.openssl_serial(other.cert_pem)), 16)
        self.assertEqual(self.value("x509_cert_not_after", thumbprint=other.thumbprint,
                                    subject_CN=OTHER, issuer_CN=OTHER,
                                    serial_number=str(serial),
                                    filepath=os.path.join(self.store, "other.pem")),
                         other.not_after)
        self.assertEqual(self.value("x509_cert_not_before", thumbprint=other.thumbprint),
                         other.not_before)

        # A junk file.
        self.put_in_store("junk.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n")
        self.wait_for_value("transportcertd_unusable_files", 1)

        # Hostile names: a subject with quotes and backslashes, a file name with a newline, a
        # quote and a byte that is not UTF-8. The file stays valid for the collector.
        # (openssl's -subj takes a backslash as an escape: doubled, the CN holds one.)
        hostile = self.certs.make('quote".back\\\\slash.example.com',
                                  names=["hostile.example.com"])
        name = b"evil\n\"name\xff.pem"
        with open(os.path.join(self.staging, "hostile"), "w", encoding="ascii") as f:
            f.write(hostile.pem)
        os.rename(os.path.join(self.staging, "hostile").encode(),
                  os.path.join(self.store.encode(), name))
        self.wait_until(lambda: self.samples("x509_cert_not_after", thumbprint=hostile.thumbprint),
                        PICKUP_TIMEOUT, "the hostile certificate in the metrics file")
        labels = self.samples("x509_cert_not_after", thumbprint=hostile.thumbprint)[0][0]
        self.assertEqual(labels["subject_CN"], 'quote".back\\slash.example.com')
        self.assertEqual(labels["filepath"], os.path.join(self.store, "evil\n\"name\ufffd.pem"))
        self.assert_promtool_accepts_the_file()

        text = self.metrics_text()
        self.assertNotIn("PRIVATE", text)
        for cert in (other, hostile):
            body = "".join(cert.key_pem.splitlines()[1:-1])
            for i in range(0, len(body) - 16, 16):
                self.assertNotIn(body[i:i + 16], text, "no key material in the metrics file")
        self.assertEqual(self.textfile_dir_listing(), ["transportcertd.prom"])

        # Turning metrics off removes the file, so no stale figures stay behind.
        self.write_config({"metrics": {"textfile": ""}, "publish": {"names": OTHER}})
        self.send(signal.SIGHUP)
        self.wait_until(lambda: not os.path.exists(self.textfile), PICKUP_TIMEOUT,
                        "the metrics file removed")
        self.assertEqual(self.stop(), 0)

    def openssl_serial(self, cert_pem):
        result = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=cert_pem,
                                capture_output=True, text=True, timeout=30, check=True)
        return result.stdout.strip().split("=", 1)[1]

    def test_an_expiry_crossing_reaches_the_file(self):
        now = int(time.time())
        soon = self.certs.make(OTHER, not_before=now - 60, not_after=now + 6)
        self.put_in_store("soon.pem", soon.pem)
        self.write_config({"monitor": {"warn_before": "4s 2s"}, "publish": {"names": OTHER}})
        self.start()
        self.wait_for_first_internal_transport()
        self.wait_for_value("transportcertd_selected_info", 1, name=OTHER,
                            thumbprint=soon.thumbprint)
        self.wait_for_value("transportcertd_certificate_info", 1, thumbprint=soon.thumbprint,
                            status="Expiring", timeout=soon.not_after - time.time() + 5)
        self.wait_for_value("x509_cert_expired", 1, thumbprint=soon.thumbprint,
                            timeout=soon.not_after - time.time() + 5)
        self.wait_for_value("transportcertd_certificate_info", 1, thumbprint=soon.thumbprint,
                            status="Expired")
        # Still selected (nothing valid is eligible), now expired: the alert's condition.
        self.assertEqual(self.value("transportcertd_selected_info", name=OTHER,
                                    thumbprint=soon.thumbprint), 1)
        self.assert_promtool_accepts_the_file()
        self.assertEqual(self.stop(), 0)


class Failures(DaemonTest):
    """Counters since start: reload and generation failures, the last successful reload."""

    def test_reload_failures_and_the_last_success_are_counted(self):
        self.write_config({"publish": {"reload_command": "exit 3"}})
        self.start()
        self.wait_for_log(rf"new internal transport certificate {THUMBPRINT}",
                          timeout=GENERATION_TIMEOUT)
        self.wait_for_value("transportcertd_reload_failures_total", 1)
        self.assertEqual(self.value("transportcertd_last_reload_success_timestamp_seconds"), 0)

        self.write_config({"publish": {"names": OTHER,
                                       "reload_command": f"echo reload >> '{self.reloads}'"}})
        self.send(signal.SIGHUP)
        self.put_in_store("other.pem", self.certs.make(OTHER).pem)
        started = int(time.time())
        self.wait_until(lambda: (self.value("transportcertd_last_reload_success_timestamp_seconds")
                                 or 0) >= started - 1, PICKUP_TIMEOUT,
                        "the successful reload in the metrics file")
        self.assertEqual(self.value("transportcertd_reload_failures_total"), 1)
        self.assert_promtool_accepts_the_file()
        self.assertEqual(self.stop(), 0)

    def test_a_failed_generation_is_counted_and_no_internal_transport_is_shown(self):
        # The store cannot be written: root without CAP_DAC_OVERRIDE, store mode 0500.
        os.makedirs(self.store, mode=0o500)
        os.chmod(self.store, 0o500)
        self.start(prefix=NO_DAC if os.geteuid() == 0 else ())
        self.wait_for_value("transportcertd_generation_failures_total", 1,
                            timeout=GENERATION_TIMEOUT)
        self.assertEqual(self.samples("transportcertd_internal_transport_not_after"), [])
        self.assertEqual(len(self.samples("transportcertd_build_info")), 1)
        self.assert_promtool_accepts_the_file()
        self.assertEqual(self.stop(), 0)


class NodeExporterScrape(DaemonTest):
    """A real node_exporter serves the file: our series are there, and no scrape error."""

    def start_node_exporter(self):
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            log = open(os.path.join(self.tmp, "node-exporter.log"), "ab")
            self.addCleanup(log.close)
            process = subprocess.Popen(
                ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
                 "--collector.disable-defaults", "--collector.textfile",
                 f"--collector.textfile.directory={self.textfile_dir}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            self.addCleanup(self.kill, process)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and process.poll() is None:
                if self.scrape(port) is not None:
                    return port
                time.sleep(0.05)
            self.kill(process)  # the port was taken meanwhile, or it did not come up: again
        self.fail("node_exporter did not start:\n"
                  + self.read(os.path.join(self.tmp, "node-exporter.log")))
        return None

    @staticmethod
    def scrape(port):
        result = subprocess.run(["curl", "-sf", "--max-time", "5",
                                 f"http://127.0.0.1:{port}/metrics"],
                                capture_output=True, text=True, timeout=30, check=False)
        return result.stdout if result.returncode == 0 else None

    def test_node_exporter_serves_our_series_without_a_scrape_error(self):
        hostile = self.certs.make('a "quoted" \\\\ name', names=[OTHER])  # one backslash
        self.put_in_store("hostile.pem", hostile.pem)
        self.write_config({"publish": {"names": OTHER}})
        self.start()
        internal = self.wait_for_first_internal_transport()
        self.wait_for_value("transportcertd_selected_info", 1, name=OTHER)
        port = self.start_node_exporter()

        served = parse_exposition(self.scrape(port))
        names = {name for name, _, _ in served}
        for name in ("x509_cert_not_after", "x509_cert_not_before", "x509_cert_expired",
                     "transportcertd_certificate_info",
                     "transportcertd_internal_transport_not_after",
                     "transportcertd_selected_info", "transportcertd_unusable_files",
                     "transportcertd_reload_failures_total",
                     "transportcertd_generation_failures_total",
                     "transportcertd_last_reload_success_timestamp_seconds",
                     "transportcertd_build_info"):
            self.assertIn(name, names, f"{name} is served")
        self.assertIn(("node_textfile_scrape_error", {}, 0.0), served)
        self.assertNotIn(("node_textfile_scrape_error", {}, 1.0), served)
        subjects = {labels.get("subject_CN") for name, labels, _ in served
                    if name == "x509_cert_not_after"}
        self.assertEqual(subjects, {FQDN, 'a "quoted" \\ name'})
        self.assertIn(("transportcertd_selected_info",
                       {"name": FQDN, "service": "SMTP", "thumbprint": internal}, 1.0), served)
        self.assertEqual(self.stop(), 0)


class KillMidWrite(DaemonTest):
    """kill -9 while the file is rewritten again and again: a restart removes what a killed
    write left, touches nothing of other programs in the shared directory, and the file is
    always whole."""

    ITERATIONS = 8
    # A takeover every second (see fault_test.KillDuringTakeover): the inventory, and with it
    # the metrics file, changes every second.
    CONFIG = {"monitor": {"renew_before": "59min 59s 999ms", "warn_before": "1s"},
              "selfsigned": {"validity": "1h"}}

    def test_a_restart_leaves_nothing_behind(self):
        seed = int(os.environ.get("TRANSPORTCERTD_FAULT_SEED", time.time_ns() % 1_000_000))
        print(f"\nKillMidWrite seed {seed}", file=sys.stderr)
        rng = random.Random(seed)
        ours = os.path.join(self.textfile_dir, ".transportcertd.prom.tmp-a1B2c3")
        others = {".node_info.prom.tmp-zz9Yx8": "half", "node_info.prom": "node_info 1\n"}
        for name, text in others.items():
            with open(os.path.join(self.textfile_dir, name), "w", encoding="ascii") as f:
                f.write(text)
        with open(ours, "w", encoding="ascii") as f:
            f.write("# HELP x half\nx{a=\"")
        self.write_config(self.CONFIG)
        left_behind = 0
        for i in range(self.ITERATIONS):
            self.start()
            if i == 0:
                self.wait_until(lambda: not os.path.exists(ours), PICKUP_TIMEOUT,
                                "the stale temporary file removed at start")
            self.wait_until(self.metrics_text, GENERATION_TIMEOUT, "a metrics file")
            time.sleep(rng.uniform(0.0, 1.5))  # the kill point, not an assertion
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait(timeout=10)
            left_behind += any(n.startswith(".transportcertd.prom.tmp-")
                               for n in self.textfile_dir_listing())
            code, output = promtool_check(self.metrics_text())
            self.assertEqual((code, output), (0, ""), "the file is whole after kill -9")
        # The log goes on across restarts: wait for this start's "ready:" line, not an earlier
        # one, or SIGTERM may come before the daemon handles it.
        readies = len(self.logged(r"^ready: "))
        self.start()
        self.wait_for_log(r"^ready: ", timeout=GENERATION_TIMEOUT, count=readies + 1)
        self.assertEqual(self.stop(), 0)
        print(f"KillMidWrite: {left_behind} of {self.ITERATIONS} kills left a temporary file",
              file=sys.stderr)
        self.assertEqual(self.textfile_dir_listing(),
                         sorted(["transportcertd.prom", *others]))
        for name, text in others.items():
            self.assertEqual(self.read(os.path.join(self.textfile_dir, name)), text)
        self.assertGreaterEqual(len(self.logged(r"removed \d+ unfinished temporary metrics")), 1)
        self.assert_promtool_accepts_the_file()
        self.assert_mode(self.textfile, 0o644)


if __name__ == "__main__":
    unittest.main()
