#!/usr/bin/env python3
"""Integration tests of the transportcertd binary: command line (transportcertd(8)),
configuration, internal transport certificate, alerts and publishing (docs/configuration.md,
docs/alerts.md, docs/publishing.md).

Every test runs the real daemon in a fresh temporary directory: its own store, state and
publish directories, a private dbus-daemon (the daemon serves on it with --bus session), and a
reload_command that appends a line to a file. The tests then look at what an administrator
would look at: the files and their modes, the log on stderr (--log-target console), the exit
code, and the sd_notify datagrams.

Nothing here sleeps to make an assertion true: every wait polls for a condition up to a
deadline, and "exactly once" is checked by watching that a count stays put for a while.

The binary is $TRANSPORTCERTD_BIN (ctest sets it). Test certificates are made with the openssl
command line; `openssl ca` is used because it takes validity dates to the second.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd daemon_integration_test.py -v [Class[.test]]
"""

import base64
import datetime
import grp
import hashlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("TRANSPORTCERTD_BIN", "")
FQDN = "mail.example.com"
EX_CONFIG = 78

# Generous bounds for things that should take a fraction of a second.
PICKUP_TIMEOUT = 3.0  # a store change reflected in the published files
GENERATION_TIMEOUT = 15.0  # an EC self-signed certificate generated, designated, published
EXIT_TIMEOUT = 10.0  # the daemon exiting after SIGTERM
# "Exactly once": the count is watched for this long after it was reached.
SETTLE = 0.8

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\w+)\s+(.*)$")
THUMBPRINT = r"[0-9A-F]{40}"


def pem_blocks(text):
    """[(label, der)] of the PEM blocks in `text`, in order."""
    return [(label, base64.b64decode("".join(body.split())))
            for label, body in PEM_BLOCK.findall(text)]


def thumbprint_of(der):
    return hashlib.sha1(der).hexdigest().upper()


def openssl(*args, stdin=None):
    result = subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True,
                            timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def public_key_of_private_key(pem):
    return openssl("pkey", "-pubout", stdin=pem)


def public_key_of_certificate(pem):
    return openssl("x509", "-noout", "-pubkey", stdin=pem)


def is_temporary(name):
    """A leftover of an atomic write: `.name.tmp-XXXXXX`."""
    return name.startswith(".") and ".tmp-" in name


class Certificate:
    """A test certificate and its key, as PEM text."""

    def __init__(self, cert_pem, key_pem, not_before, not_after):
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.not_before = not_before  # Unix seconds
        self.not_after = not_after
        self.thumbprint = thumbprint_of(pem_blocks(cert_pem)[0][1])

    @property
    def pem(self):
        """Certificate and key in one file, as a certbot deploy hook might write it."""
        return self.cert_pem + self.key_pem


class CertificateMaker:
    """Self-signed server certificates with validity to the second (`openssl ca -selfsign`)."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    def make(self, cn, names=None, not_before=None, not_after=None, key="ec"):
        now = int(time.time())
        not_before = now - 3600 if not_before is None else int(not_before)
        not_after = now + 90 * 86400 if not_after is None else int(not_after)
        names = names or [cn]
        self.count += 1
        work = os.path.join(self.directory, f"cert{self.count}")
        os.makedirs(work)
        key_path = os.path.join(work, "key.pem")
        if key == "ec":
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", key_path)
        else:
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key_path)
        conf = os.path.join(work, "ca.cnf")
        with open(os.path.join(work, "index.txt"), "w", encoding="ascii"):
            pass
        with open(os.path.join(work, "serial"), "w", encoding="ascii") as f:
            f.write(f"{0x1000 + self.count:x}\n")
        with open(conf, "w", encoding="ascii") as f:
            f.write(f"""[ca]
default_ca = test_ca
[test_ca]
dir = {work}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[any_name]
commonName = supplied
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {", ".join("DNS:" + n for n in names)}
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
""")
        csr = os.path.join(work, "req.pem")
        cert = os.path.join(work, "cert.pem")
        openssl("req", "-new", "-config", conf, "-key", key_path, "-subj", f"/CN={cn}",
                "-out", csr)
        fmt = "%Y%m%d%H%M%SZ"
        openssl("ca", "-batch", "-config", conf, "-selfsign", "-keyfile", key_path, "-in", csr,
                "-startdate", time.strftime(fmt, time.gmtime(not_before)),
                "-enddate", time.strftime(fmt, time.gmtime(not_after)),
                "-extensions", "server", "-notext", "-out", cert)
        with open(cert, encoding="ascii") as c, open(key_path, encoding="ascii") as k:
            return Certificate(c.read(), k.read(), not_before, not_after)


class LogLine:
    def __init__(self, when, level, message):
        self.when = when  # Unix time, from the line's local-time stamp
        self.level = level
        self.message = message
        self.match = None

    def __repr__(self):
        return f"{self.level}: {self.message}"


class DaemonTest(unittest.TestCase):
    """One temporary directory, one private bus, and helpers to run and watch the daemon."""

    maxDiff = None

    def setUp(self):
        if not BIN:
            self.skipTest("TRANSPORTCERTD_BIN is not set")
        self.tmp = tempfile.mkdtemp(prefix="transportcertd-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.store = os.path.join(self.tmp, "store")
        self.state = os.path.join(self.tmp, "state")
        self.published = os.path.join(self.tmp, "published")
        self.reloads = os.path.join(self.tmp, "reloads")
        self.config_path = os.path.join(self.tmp, "transportcertd.conf")
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.staging = os.path.join(self.tmp, "staging")
        os.makedirs(self.staging)
        self.certs = CertificateMaker(os.path.join(self.tmp, "openssl"))
        self.daemon = None
        self.bus_address = self.start_private_bus()

    # --- the bus -------------------------------------------------------------------------

    def start_private_bus(self, config_file=None):
        """A dbus-daemon of this test's own: a session bus, or one with `config_file`."""
        socket_path = os.path.join(self.tmp, "bus")
        config = f"--config-file={config_file}" if config_file else "--session"
        result = subprocess.run(
            ["dbus-daemon", config, "--fork", "--print-address=1", "--print-pid=1",
             f"--address=unix:path={socket_path}"],
            capture_output=True, text=True, timeout=10, check=True)
        address, pid = result.stdout.split("\n")[:2]
        self.bus_pid = int(pid)
        self.addCleanup(self.stop_pid, self.bus_pid)
        return address

    def busctl(self, *args):
        """Runs busctl on the private bus; returns its output, failing the test on an error."""
        result = subprocess.run(["busctl", f"--address={self.bus_address}", *args],
                                capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(result.returncode, 0, f"busctl {' '.join(args)}: {result.stderr}")
        return result.stdout

    @staticmethod
    def stop_pid(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    # --- configuration and files -----------------------------------------------------------

    def config_text(self, changes=None):
        """The test configuration; `changes` = {section: {key: value or None to leave out}}."""
        sections = {
            "daemon": {"fqdn": FQDN, "store": self.store, "state": self.state},
            "monitor": {},
            "selfsigned": {"key": "ec:P-256"},
            "publish": {"dir": self.published,
                        "reload_command": f"echo reload >> '{self.reloads}'"},
        }
        for section, keys in (changes or {}).items():
            sections.setdefault(section, {}).update(keys)
        text = ""
        for section, keys in sections.items():
            text += f"[{section}]\n"
            text += "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)
            text += "\n"
        return text

    def write_config(self, changes=None, text=None):
        self.write_file(self.config_path, self.config_text(changes) if text is None else text)

    def write_file(self, path, text):
        """Replaces `path` by rename, so that nobody reads it half-written."""
        staged = os.path.join(self.staging, f"{os.path.basename(path)}.{time.monotonic_ns()}")
        with open(staged, "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(staged, path)

    def put_in_store(self, name, text):
        os.makedirs(self.store, mode=0o700, exist_ok=True)
        self.write_file(os.path.join(self.store, name), text)

    def read(self, path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def reload_count(self):
        try:
            return len(self.read(self.reloads).splitlines())
        except FileNotFoundError:
            return 0

    def designated(self):
        """The thumbprint on the `internal-transport` line of the bindings file, or None."""
        try:
            text = self.read(os.path.join(self.state, "bindings"))
        except FileNotFoundError:
            return None
        found = re.findall(rf"^internal-transport ({THUMBPRINT})\s*$", text, re.M)
        return found[0] if len(found) == 1 else None

    def published_blocks(self, name):
        try:
            return pem_blocks(self.read(os.path.join(self.published, name)))
        except FileNotFoundError:
            return None

    def published_thumbprint(self, name):
        """Thumbprint of the leaf in a published file (its first certificate), or None."""
        for label, der in self.published_blocks(name) or []:
            if label == "CERTIFICATE":
                return thumbprint_of(der)
        return None

    def store_files(self, pattern=r".*"):
        return sorted(n for n in os.listdir(self.store) if re.fullmatch(pattern, n))

    def temporary_files(self):
        found = []
        for directory in (self.store, self.state, self.published):
            if os.path.isdir(directory):
                found += [os.path.join(directory, n) for n in os.listdir(directory)
                          if is_temporary(n)]
        return found

    def assert_generation_finished_or_left_nothing(self):
        """After a first generation was interrupted: either it finished (its file written and
        designated) or it left nothing in the store."""
        generated = self.store_files(rf"transportcertd-({THUMBPRINT})\.pem")
        self.assertLessEqual(len(generated), 1)
        if generated:
            self.assertEqual(self.designated(), generated[0][len("transportcertd-"):-4])
        else:
            self.assertIsNone(self.designated())

    def assert_mode(self, path, mode):
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode, f"mode of {path}")

    def assert_published_bundle(self, name, thumbprint):
        """`name` holds a private key, then the leaf `thumbprint`, the key matching the leaf."""
        path = os.path.join(self.published, name)
        text = self.read(path)
        blocks = pem_blocks(text)
        self.assertGreaterEqual(len(blocks), 2, f"{name}: {text}")
        self.assertRegex(blocks[0][0], r"PRIVATE KEY$", f"{name} starts with the key")
        self.assertEqual(blocks[1][0], "CERTIFICATE", f"{name}: the leaf follows the key")
        self.assertEqual(thumbprint_of(blocks[1][1]), thumbprint, f"{name}: the leaf")
        key_pem, cert_pem = (m.group(0) for m in list(PEM_BLOCK.finditer(text))[:2])
        self.assertEqual(public_key_of_private_key(key_pem), public_key_of_certificate(cert_pem),
                         f"{name}: the key belongs to the leaf")
        self.assert_mode(path, 0o600)

    # --- running the daemon ----------------------------------------------------------------

    def daemon_environment(self, extra=None):
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
                            "LISTEN_FDS", "LISTEN_PID", "DBUS_SYSTEM_BUS_ADDRESS")}
        env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        env.update(extra or {})
        return env

    def start(self, *args, env=None, log_level="debug", prefix=()):
        """Starts the daemon in the background; its stdout and stderr go to the log file.
        `prefix` is a command that execs the daemon (e.g. setpriv with fewer capabilities)."""
        if not os.path.exists(self.config_path):
            self.write_config()
        log = open(self.log_path, "ab")
        self.addCleanup(log.close)
        self.daemon = subprocess.Popen(
            [*prefix, BIN, "--config", self.config_path, "--bus", "session",
             "--log-target", "console", "--log-level", log_level, *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.daemon_environment(env))
        self.addCleanup(self.kill, self.daemon)
        return self.daemon

    @staticmethod
    def kill(process):
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def run_daemon(self, *args, timeout=20):
        """Runs the daemon to completion (for start-up errors and options); (rc, out, err)."""
        result = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                                env=self.daemon_environment(), stdin=subprocess.DEVNULL,
                                check=False)
        return result.returncode, result.stdout, result.stderr

    def send(self, signum):
        self.assertIsNone(self.daemon.poll(), "the daemon is running\n" + self.log_tail())
        self.daemon.send_signal(signum)

    def stop(self, signum=signal.SIGTERM, timeout=EXIT_TIMEOUT):
        """Sends `signum` and returns the exit code."""
        self.send(signum)
        try:
            return self.daemon.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the daemon did not exit within {timeout} s of signal {signum}\n"
                      + self.log_tail())
        return None

    def log(self):
        try:
            return self.read(self.log_path)
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "--- daemon log ---\n" + "\n".join(self.log().splitlines()[-lines:])

    def log_lines(self):
        lines = []
        for raw in self.log().splitlines():
            m = LOG_LINE.match(raw)
            if m:
                when = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
                lines.append(LogLine(when, m.group(2), m.group(3)))
        return lines

    def logged(self, pattern):
        """The log lines whose message matches `pattern` (re.search), each with .match set."""
        found = []
        for line in self.log_lines():
            line.match = re.search(pattern, line.message)
            if line.match:
                found.append(line)
        return found

    def wait_until(self, condition, timeout, what, daemon_may_exit=False, on_timeout=None):
        """Polls `condition` until it returns something true; returns that. Fails at `timeout`,
        adding what `on_timeout()` returns (if given) to the message."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if not daemon_may_exit and self.daemon is not None and self.daemon.poll() is not None:
                self.fail(f"the daemon exited ({self.daemon.returncode}) while waiting for {what}\n"
                          + self.log_tail())
            if time.monotonic() > deadline:
                details = f" ({on_timeout()})" if on_timeout else ""
                self.fail(f"waited {timeout} s for {what}{details}\n" + self.log_tail())
            time.sleep(0.03)

    def wait_for_log(self, pattern, timeout=PICKUP_TIMEOUT, count=1):
        """Waits for `count` log lines matching `pattern`; returns all that match."""
        def enough():
            found = self.logged(pattern)
            return found if len(found) >= count else None

        return self.wait_until(enough, timeout, f"{count} log line(s) matching {pattern!r}")

    def assert_stays(self, condition, what, duration=SETTLE):
        """`condition` holds now and keeps holding for `duration` seconds."""
        deadline = time.monotonic() + duration
        while True:
            self.assertTrue(condition(), f"{what}\n" + self.log_tail())
            if time.monotonic() > deadline:
                return
            time.sleep(0.03)

    def reload_runs(self):
        """(started, ended) runs of the reload command, from the log."""
        return (len(self.logged(r"^running reload command: ")),
                len(self.logged(r"^reload command (finished|.* failed|.* could not start)")))

    def wait_for_reloads_to_finish(self, quiet=0.3):
        """Waits until no reload command has been running for `quiet` seconds."""
        idle_since = [None]

        def idle():
            started, ended = self.reload_runs()
            if started != ended:
                idle_since[0] = None
            elif idle_since[0] is None:
                idle_since[0] = time.monotonic()
            return idle_since[0] is not None and time.monotonic() - idle_since[0] >= quiet

        self.wait_until(idle, PICKUP_TIMEOUT, "the reload command to finish")

    def assert_reloads(self, count, what="runs of reload_command"):
        """The reload command has run `count` times in all, and no more follow."""
        self.wait_until(lambda: self.reload_count() >= count, PICKUP_TIMEOUT,
                        f"{count} {what}")
        self.assert_stays(lambda: self.reload_count() == count, f"exactly {count} {what}")

    def wait_for_first_internal_transport(self):
        """Waits until a fresh start has generated, designated and published its internal
        transport certificate and run the reload command; returns the thumbprint."""
        line = self.wait_for_log(rf"new internal transport certificate ({THUMBPRINT})",
                                 timeout=GENERATION_TIMEOUT)[0]
        thumbprint = line.match.group(1)
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem") == thumbprint
                        and self.published_thumbprint(f"{FQDN}.pem") == thumbprint,
                        PICKUP_TIMEOUT, "the new certificate published")
        self.wait_for_reloads_to_finish()
        return thumbprint


class FreshStart(DaemonTest):
    """An empty store gets an internal transport certificate."""

    def test_generates_designates_and_publishes_an_internal_transport_certificate(self):
        self.start()
        thumbprint = self.wait_for_first_internal_transport()

        self.assertEqual(self.store_files(), [f"transportcertd-{thumbprint}.pem"])
        stored = os.path.join(self.store, f"transportcertd-{thumbprint}.pem")
        self.assert_mode(stored, 0o600)
        labels = [label for label, _ in pem_blocks(self.read(stored))]
        self.assertEqual(len(labels), 2, labels)
        self.assertIn("PRIVATE KEY", labels[0])
        self.assertEqual(labels[1], "CERTIFICATE")
        self.assertEqual(thumbprint_of(pem_blocks(self.read(stored))[1][1]), thumbprint)

        self.assertEqual(self.designated(), thumbprint)
        self.assert_published_bundle("internal-transport.pem", thumbprint)
        self.assert_published_bundle(f"{FQDN}.pem", thumbprint)

        leaf = self.read(stored)
        self.assertIn(f"CN = {FQDN}", openssl("x509", "-noout", "-subject", stdin=leaf))
        sans = openssl("x509", "-noout", "-ext", "subjectAltName", stdin=leaf)
        self.assertIn(f"DNS:{FQDN}", sans)
        self.assertIn("DNS:mail", sans.replace(f"DNS:{FQDN}", ""), "the short host name")

        self.assert_reloads(1)

    def test_a_restart_keeps_the_certificate_and_does_not_reload(self):
        self.start()
        thumbprint = self.wait_for_first_internal_transport()
        self.assertEqual(self.stop(), 0)

        self.start()
        self.wait_for_log(r"^ready: ", count=2)
        self.assertEqual(len(self.logged(r"generating a self-signed")), 1, self.log_tail())
        self.assertEqual(self.designated(), thumbprint)
        self.assertEqual(self.published_thumbprint("internal-transport.pem"), thumbprint)
        self.assert_reloads(1)
        self.assertEqual(self.store_files(), [f"transportcertd-{thumbprint}.pem"])

    def test_an_unusable_file_does_not_stop_the_start(self):
        self.put_in_store("garbage.pem", "this is not a certificate\n")
        self.start()
        thumbprint = self.wait_for_first_internal_transport()
        self.assertEqual(self.designated(), thumbprint)


class ExpiryAlerts(DaemonTest):
    """docs/alerts.md: one alert per certificate per threshold as it is crossed, one at expiry.
    On real time, through the real deadline timer; simulated_time_test.cpp checks every
    threshold to the millisecond on a simulated clock."""

    LATENESS = 1.5  # seconds an alert may come after its crossing

    def expiring(self, thumbprint, threshold):
        return self.logged(rf"^certificate {thumbprint} \(.*\) expires at .* UTC, "
                           rf"within {threshold}$")

    def expired(self, thumbprint):
        return self.logged(rf"^certificate {thumbprint} \(.*\) expired at ")

    def test_each_threshold_and_the_expiry_raise_one_alert_on_time(self):
        now = int(time.time())
        # Outside both windows at start; crosses 8s, then 4s, then expires, about 3, 7 and
        # 11 seconds from now.
        soon = self.certs.make("short.example.com", not_before=now - 60, not_after=now + 10)
        # Inside both windows at start: one alert, for the nearest threshold; then expires.
        sooner = self.certs.make("shorter.example.com", not_before=now - 60, not_after=now + 2)
        self.put_in_store("short.pem", soon.pem)
        self.put_in_store("shorter.pem", sooner.pem)
        self.write_config({"monitor": {"warn_before": "8s 4s"},
                           "publish": {"names": "short.example.com"}})
        self.start()
        internal = self.wait_for_first_internal_transport()
        self.assertEqual(self.published_thumbprint("short.example.com.pem"), soon.thumbprint)

        # RFC 5280: NotAfter is inclusive, so the certificate is expired from the next second.
        expiry = soon.not_after + 1
        self.wait_until(lambda: self.expired(soon.thumbprint), expiry - time.time() + 5,
                        "the expiry alert")

        self.assert_stays(lambda: len(self.logged(rf"^certificate {soon.thumbprint} ")) == 3,
                          "no further alert for the expired certificate")
        for alerts, crossing, what in ((self.expiring(soon.thumbprint, "8s"), expiry - 8, "8s"),
                                       (self.expiring(soon.thumbprint, "4s"), expiry - 4, "4s"),
                                       (self.expired(soon.thumbprint), expiry, "expiry")):
            self.assertEqual(len(alerts), 1, f"one {what} alert\n" + self.log_tail())
            self.assertGreaterEqual(alerts[0].when, crossing, f"the {what} alert is not early")
            self.assertLessEqual(alerts[0].when, crossing + self.LATENESS,
                                 f"the {what} alert is on time")

        self.assertEqual(self.expiring(sooner.thumbprint, "8s"), [],
                         "a certificate inside two windows at start alerts for the nearest only")
        self.assertEqual(len(self.expiring(sooner.thumbprint, "4s")), 1, self.log_tail())
        expired = self.expired(sooner.thumbprint)
        self.assertEqual(len(expired), 1, self.log_tail())
        self.assertGreaterEqual(expired[0].when, sooner.not_after + 1)
        self.assertLessEqual(expired[0].when, sooner.not_after + 1 + self.LATENESS)

        # Nothing valid is eligible for short.example.com any more: the expired certificate
        # is still offered, and that is one alert of its own.
        selected = self.logged(r"no valid certificate is eligible for short\.example\.com")
        self.assertEqual(len(selected), 1, self.log_tail())
        self.assertIn(soon.thumbprint, selected[0].message)
        self.assertEqual(self.published_thumbprint("short.example.com.pem"), soon.thumbprint)

        # The expired certificates break nothing else.
        self.assertEqual(self.logged(rf"certificate {internal} .*(expires|expired) at"), [])
        self.assertEqual(len(self.logged(r"generating a self-signed")), 1)
        self.assertEqual(self.designated(), internal)
        self.assertEqual(self.published_thumbprint("internal-transport.pem"), internal)
        self.assertEqual(self.published_thumbprint(f"{FQDN}.pem"), internal)
        self.assertEqual(self.stop(), 0)


class StoreWatching(DaemonTest):
    """Store files added, replaced (also by rename) or removed are picked up promptly."""

    OTHER = "other.example.com"

    def setUp(self):
        super().setUp()
        self.write_config({"publish": {"names": f"{self.OTHER} a.example.com b.example.com"}})

    def test_a_copied_file_is_picked_up_and_published(self):
        self.start()
        self.wait_for_first_internal_transport()
        self.assertIsNone(self.published_blocks(f"{self.OTHER}.pem"))

        other = self.certs.make(self.OTHER)
        staged = os.path.join(self.staging, "other.pem")
        with open(staged, "w", encoding="ascii") as f:
            f.write(other.pem)
        shutil.copyfile(staged, os.path.join(self.store, "other.pem"))

        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == other.thumbprint,
                        PICKUP_TIMEOUT, "the copied certificate published")
        self.assert_published_bundle(f"{self.OTHER}.pem", other.thumbprint)
        self.assertEqual(
            sorted(self.read(os.path.join(self.published, "sni-map")).splitlines()),
            sorted(f"{name} {self.published}/{name}.pem" for name in (FQDN, self.OTHER)),
            "sni-map lists every published name with its file")
        self.assert_reloads(2)
        self.assertEqual(self.logged(r"skipping|cannot|failed"), [], self.log_tail())

    def test_a_renewal_renamed_into_place_replaces_the_published_certificate(self):
        now = int(time.time())
        first = self.certs.make(self.OTHER, not_before=now - 7200)
        self.put_in_store("other.pem", first.pem)
        self.start()
        self.wait_for_first_internal_transport()
        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == first.thumbprint,
                        PICKUP_TIMEOUT, "the first certificate published")
        reloads = self.reload_count()

        # Like a certbot deploy hook: separate key and certificate files, each renamed in.
        renewed = self.certs.make(self.OTHER, not_before=now - 60)
        for name, text in (("other-renewed.key", renewed.key_pem),
                           ("other-renewed.crt", renewed.cert_pem)):
            staged = os.path.join(self.staging, name)
            with open(staged, "w", encoding="ascii") as f:
                f.write(text)
        os.rename(os.path.join(self.staging, "other-renewed.key"),
                  os.path.join(self.store, "other-renewed.key"))
        os.rename(os.path.join(self.staging, "other-renewed.crt"),
                  os.path.join(self.store, "other-renewed.crt"))

        self.wait_until(
            lambda: self.published_thumbprint(f"{self.OTHER}.pem") == renewed.thumbprint,
            PICKUP_TIMEOUT, "the renewed certificate (newer NotBefore) published")
        self.assert_published_bundle(f"{self.OTHER}.pem", renewed.thumbprint)
        self.assert_reloads(reloads + 1)

    def test_a_removed_certificate_is_no_longer_published(self):
        other = self.certs.make(self.OTHER)
        self.put_in_store("other.pem", other.pem)
        self.start()
        self.wait_for_first_internal_transport()
        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == other.thumbprint,
                        PICKUP_TIMEOUT, "the certificate published")
        reloads = self.reload_count()

        os.remove(os.path.join(self.store, "other.pem"))
        path = os.path.join(self.published, f"{self.OTHER}.pem")
        self.wait_until(lambda: not os.path.exists(path), PICKUP_TIMEOUT,
                        f"{path} removed once nothing can be selected for it")
        self.assert_reloads(reloads + 1)

    def test_a_burst_of_new_files_runs_the_reload_command_once(self):
        self.start()
        self.wait_for_first_internal_transport()
        reloads = self.reload_count()
        made = {name: self.certs.make(name) for name in ("a.example.com", "b.example.com",
                                                          self.OTHER)}
        for name, cert in made.items():
            with open(os.path.join(self.staging, name), "w", encoding="ascii") as f:
                f.write(cert.pem)
        for name in made:
            os.rename(os.path.join(self.staging, name), os.path.join(self.store, f"{name}.pem"))

        self.wait_until(lambda: all(self.published_thumbprint(f"{name}.pem") == cert.thumbprint
                                    for name, cert in made.items()),
                        PICKUP_TIMEOUT, "all three published")
        self.assert_reloads(reloads + 1)

    def test_an_unusable_file_is_logged_once_with_its_name_and_reason(self):
        self.put_in_store("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n")
        self.start()
        self.wait_for_first_internal_transport()
        skipped = self.wait_for_log(r"^skipping (.*): (.+)$")
        self.assertEqual(len(skipped), 1, self.log_tail())
        self.assertEqual(skipped[0].match.group(1), os.path.join(self.store, "garbage.pem"))
        self.assertGreater(len(skipped[0].match.group(2).strip()), 3, "a reason is given")
        self.assertEqual(skipped[0].level, "warning")

        # Another file changes: the store is scanned again, the garbage is not logged again.
        other = self.certs.make(self.OTHER)
        self.put_in_store("other.pem", other.pem)
        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == other.thumbprint,
                        PICKUP_TIMEOUT, "the other certificate published")
        os.utime(os.path.join(self.store, "other.pem"))
        self.assert_stays(lambda: len(self.logged(r"^skipping ")) == 1,
                          "the unusable file is logged only once")

        # A second unusable file is logged once too, and the first still is not.
        self.put_in_store("second.crt", "")
        self.wait_for_log(r"^skipping .*/second\.crt: .+")
        self.assert_stays(lambda: len(self.logged(r"^skipping .*/garbage\.pem")) == 1
                          and len(self.logged(r"^skipping .*/second\.crt")) == 1,
                          "each unusable file logged once")


class InternalTransport(DaemonTest):
    """The internal transport certificate is replaced whenever it stops working."""

    def stored_path(self, thumbprint):
        return os.path.join(self.store, f"transportcertd-{thumbprint}.pem")

    def wait_for_replacement(self, old, reason_pattern):
        line = self.wait_for_log(
            rf"new internal transport certificate ({THUMBPRINT}) .*, replacing {old}: .*"
            + reason_pattern, timeout=GENERATION_TIMEOUT)[0]
        new = line.match.group(1)
        self.assertNotEqual(new, old)
        self.wait_until(lambda: self.designated() == new, PICKUP_TIMEOUT, "the new designation")
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem") == new,
                        PICKUP_TIMEOUT, "the new certificate published")
        self.assert_published_bundle("internal-transport.pem", new)
        self.assertTrue(os.path.exists(self.stored_path(new)))
        # While the replacement is generated the mail server keeps its files: nothing is
        # unpublished (and reloaded) in between.
        self.assertEqual(self.logged(r"^removed .*: no certificate can be selected"), [],
                         self.log_tail())
        return line, new

    def test_a_deleted_internal_certificate_is_replaced_and_reloaded_once(self):
        self.start()
        old = self.wait_for_first_internal_transport()
        os.remove(self.stored_path(old))
        _, new = self.wait_for_replacement(old, "is missing from the store")
        self.assertEqual(self.published_thumbprint(f"{FQDN}.pem"), new)
        self.assert_reloads(2)

    def test_an_internal_certificate_without_its_key_is_replaced_and_kept(self):
        self.start()
        old = self.wait_for_first_internal_transport()
        # Overwrite the file with the certificate alone: its key is gone from the store.
        certificate_only = "".join(
            m.group(0) + "\n" for m in PEM_BLOCK.finditer(self.read(self.stored_path(old)))
            if m.group(1) == "CERTIFICATE")
        with open(self.stored_path(old), "w", encoding="ascii") as f:
            f.write(certificate_only)
        _, new = self.wait_for_replacement(old, "has no private key")
        self.assertEqual(self.published_thumbprint(f"{FQDN}.pem"), new)
        self.assert_reloads(2)
        self.assertEqual(self.read(self.stored_path(old)), certificate_only,
                         "the old certificate stays in the store")

    def test_the_internal_certificate_is_renewed_when_renew_before_is_reached(self):
        now = int(time.time())
        current = self.certs.make(FQDN, names=[FQDN, "mail"], not_before=now - 60,
                                  not_after=now + 8)
        self.put_in_store("current.pem", current.pem)
        os.makedirs(self.state, mode=0o700)
        self.write_file(os.path.join(self.state, "bindings"),
                        f"internal-transport {current.thumbprint}\n"
                        f"services {current.thumbprint} SMTP\n")
        # Without DANE (dane_test.py has its rollover hold): renewed at renew_before (to the
        # millisecond on simulated time: simulated_time_test.cpp).
        self.write_config({"monitor": {"renew_before": "5s", "warn_before": "1s"},
                           "dane": {"ports": ""}})
        self.start()
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem")
                        == current.thumbprint, PICKUP_TIMEOUT, "the designated one published")
        self.assertEqual(self.logged(r"generating a self-signed"), [],
                         "not replaced before renew_before")

        renew_at = current.not_after + 1 - 5
        line, new = self.wait_for_replacement(current.thumbprint, "within renew_before 5s")
        self.assertGreaterEqual(line.when, renew_at)
        self.assertLessEqual(line.when, renew_at + 2.5, "renewed on time (EC generation included)")
        self.assert_reloads(2)
        self.assertTrue(os.path.exists(os.path.join(self.store, "current.pem")),
                        "the old certificate stays in the store")
        self.assertEqual(self.published_thumbprint(f"{FQDN}.pem"), new)

    def test_a_removed_store_directory_is_recreated_with_a_new_certificate(self):
        self.start()
        old = self.wait_for_first_internal_transport()
        shutil.rmtree(self.store)
        self.wait_for_replacement(old, "is missing from the store")
        self.assertTrue(os.path.isdir(self.store))


class Reload(DaemonTest):
    """SIGHUP re-reads the configuration and the store."""

    OTHER = "other.example.com"

    def test_sighup_applies_a_new_publish_name(self):
        other = self.certs.make(self.OTHER)
        self.put_in_store("other.pem", other.pem)
        self.start()
        self.wait_for_first_internal_transport()
        self.assertIsNone(self.published_blocks(f"{self.OTHER}.pem"))

        self.write_config({"publish": {"names": self.OTHER}})
        self.send(signal.SIGHUP)
        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == other.thumbprint,
                        PICKUP_TIMEOUT, "the newly configured name published")
        self.assert_published_bundle(f"{self.OTHER}.pem", other.thumbprint)
        self.assert_reloads(2)

    def test_a_broken_config_on_sighup_is_logged_and_the_running_one_kept(self):
        self.write_config({"publish": {"names": self.OTHER}})
        self.start()
        self.wait_for_first_internal_transport()

        self.write_config(text=self.config_text() + "[monitor]\nwarn_before = soon\n")
        self.send(signal.SIGHUP)
        failed = self.wait_for_log(r"reload failed, keeping the running configuration: (.*)")
        self.assertIn(f"{self.config_path}:", failed[0].match.group(1))
        self.assertIn("bad duration", failed[0].match.group(1))

        # Still running, still watching, still publishing `other` from the old configuration.
        other = self.certs.make(self.OTHER)
        self.put_in_store("other.pem", other.pem)
        self.wait_until(lambda: self.published_thumbprint(f"{self.OTHER}.pem") == other.thumbprint,
                        PICKUP_TIMEOUT, "the old configuration still in force")
        self.assertEqual(self.stop(), 0)

    def test_a_broken_config_on_dbus_reload_fails_the_call_and_is_logged(self):
        # What `systemctl reload transportcertd` (ExecReload= calls Reload) sees.
        self.start()
        self.wait_for_first_internal_transport()
        self.write_config(text=self.config_text() + "[monitor]\nwarn_before = soon\n")
        result = subprocess.run(
            ["busctl", f"--address={self.bus_address}", "call", "org.transportcertd1",
             "/org/transportcertd1", "org.transportcertd1.Manager", "Reload"],
            capture_output=True, text=True, timeout=30, check=False)
        self.assertNotEqual(result.returncode, 0, "Reload with a broken configuration fails")
        self.assertIn(f"{self.config_path}:", result.stderr)
        failed = self.wait_for_log(r"reload failed, keeping the running configuration: (.*)")
        self.assertIn("bad duration", failed[0].match.group(1))
        self.busctl("call", "org.transportcertd1", "/org/transportcertd1",
                    "org.freedesktop.DBus.Peer", "Ping")
        self.assertEqual(self.stop(), 0)

    def test_sighup_reports_an_unknown_section_with_its_line(self):
        self.start()
        self.wait_for_first_internal_transport()
        text = self.config_text()
        line = text.count("\n") + 2
        self.write_config(text=text + "\n[nonsense]\n")
        self.send(signal.SIGHUP)
        self.wait_for_log(rf"reload failed.*{re.escape(self.config_path)}:{line}: "
                          r"unknown section \[nonsense\]")
        self.assertIsNone(self.daemon.poll())

    def test_sighup_does_not_repeat_expiry_alerts_already_raised(self):
        """A reload is not a start: an alert already raised does not come again
        (docs/alerts.md: one alert per certificate per threshold)."""
        expiring = self.certs.make("expiring.example.com",
                                   not_after=int(time.time()) + 10 * 86400)
        self.put_in_store("expiring.pem", expiring.pem)
        self.start()
        self.wait_for_first_internal_transport()
        self.wait_for_log(rf"certificate {expiring.thumbprint} .* within 14d$")

        self.send(signal.SIGHUP)
        reloaded = self.wait_for_log(r"reloading configuration and store")[0]
        # Reload runs to its end in one go; its last log line is the deadline it arms.
        self.wait_until(lambda: [l for l in self.logged(r"^next deadline in ")
                                 if l.when >= reloaded.when], PICKUP_TIMEOUT, "the reload done")
        self.assertEqual(len(self.logged(rf"certificate {expiring.thumbprint} .* within")), 1,
                         self.log_tail())


class NotifyProtocol(DaemonTest):
    """sd_notify READY, STATUS, WATCHDOG, RELOADING and STOPPING."""

    def setUp(self):
        super().setUp()
        self.socket_path = os.path.join(self.tmp, "notify")
        if len(self.socket_path) > 100:
            self.skipTest(f"{self.socket_path} is too long for a socket address")
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.socket_path)
        self.socket.settimeout(0.05)
        self.messages = []  # (monotonic time, {field: value})
        self.lock = threading.Lock()
        self.done = threading.Event()
        receiver = threading.Thread(target=self.receive, daemon=True)
        receiver.start()
        self.addCleanup(self.socket.close)
        self.addCleanup(receiver.join, 5)
        self.addCleanup(self.done.set)

    def receive(self):
        while not self.done.is_set():
            try:
                data = self.socket.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            if fields.get("READY") == "1":  # what a mail server started now would find
                fields["published at READY"] = os.path.exists(
                    os.path.join(self.published, "internal-transport.pem"))
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def received(self, field, value=None):
        """Times and values of the messages that carry `field` (with `value`, if given)."""
        with self.lock:
            return [(t, f[field]) for t, f in self.messages
                    if field in f and (value is None or f[field] == value)]

    def test_ready_status_watchdog_reloading_and_stopping(self):
        self.start(env={"NOTIFY_SOCKET": self.socket_path, "WATCHDOG_USEC": "400000"})
        ready = self.wait_until(lambda: self.received("READY", "1"), GENERATION_TIMEOUT, "READY=1")
        thumbprint = self.wait_for_first_internal_transport()
        self.wait_until(lambda: any(f"internal transport {thumbprint[:8]}" in status
                                    for _, status in self.received("STATUS")),
                        PICKUP_TIMEOUT, "a STATUS= line naming the internal transport certificate")

        # Watchdog pings every 200 ms (half of WATCHDOG_USEC).
        first = len(self.received("WATCHDOG"))
        self.wait_until(lambda: len(self.received("WATCHDOG")) >= first + 6, 5.0,
                        "six more WATCHDOG=1")
        times = [t for t, value in self.received("WATCHDOG") if value == "1"]
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        median = gaps[len(gaps) // 2]
        self.assertGreater(median, 0.1, f"pings at half of WATCHDOG_USEC, not faster: {gaps}")
        self.assertLess(median, 0.35, f"pings at half of WATCHDOG_USEC, not slower: {gaps}")

        self.send(signal.SIGHUP)
        reloading = self.wait_until(lambda: self.received("RELOADING", "1"), PICKUP_TIMEOUT,
                                    "RELOADING=1")
        self.wait_until(lambda: [t for t, _ in self.received("READY", "1")
                                 if t >= reloading[0][0]], PICKUP_TIMEOUT,
                        "READY=1 after RELOADING=1")
        self.assertEqual(len(self.received("READY")), 2, "READY=1 at start and after the reload")
        self.assertLess(ready[0][0], reloading[0][0])

        self.assertEqual(self.stop(), 0)
        self.wait_until(lambda: self.received("STOPPING", "1"), 1.0, "STOPPING=1",
                        daemon_may_exit=True)
        stopping = self.received("STOPPING")[0][0]
        pings_after = [t for t, _ in self.received("WATCHDOG") if t > stopping + 0.5]
        self.assertEqual(pings_after, [], "no pings after STOPPING=1")

    def test_ready_waits_for_the_first_internal_transport_certificate(self):
        # A fresh store: READY=1 only once the generated certificate is published, so that a
        # mail server ordered after the daemon finds its files.
        self.start(env={"NOTIFY_SOCKET": self.socket_path})
        ready = self.wait_until(lambda: [f for _, f in self.messages if f.get("READY") == "1"],
                                GENERATION_TIMEOUT, "READY=1")[0]
        self.assertTrue(ready["published at READY"],
                        f"internal-transport.pem exists when READY=1 arrives: {ready}")
        self.assertRegex(ready.get("STATUS", ""),
                         r"^1 certificate, 0 unusable files, internal transport [0-9A-F]{8}…$")
        self.wait_for_log(r"^ready: 1 certificate, 0 unusable files, internal transport ")
        self.assertEqual(self.stop(), 0)

    def test_no_watchdog_pings_unless_asked(self):
        self.start(env={"NOTIFY_SOCKET": self.socket_path})
        self.wait_until(lambda: self.received("READY", "1"), GENERATION_TIMEOUT, "READY=1")
        self.wait_for_first_internal_transport()
        self.assert_stays(lambda: self.received("WATCHDOG") == [], "no WATCHDOG=1")
        self.assertEqual(self.stop(), 0)


class CommandLine(DaemonTest):
    """transportcertd(8): exit codes, FILE:LINE errors, --check-config, --version."""

    def run_with_config(self, text, *args):
        self.write_config(text=text)
        return self.run_daemon("--config", self.config_path, "--bus", "session",
                               "--log-target", "console", *args)

    def assert_config_error(self, text, line, problem):
        rc, _, err = self.run_with_config(text)
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertIn(f"{self.config_path}:{line}: ", err)
        self.assertRegex(err, problem)
        self.assertFalse(os.path.exists(self.store), "nothing is created with a bad config")

    def test_an_unknown_key_exits_78_with_file_and_line(self):
        text = self.config_text()
        lines = text.count("\n")
        self.assert_config_error(text + "; a comment\n\n[daemon]\nfdqn = typo.example.com\n",
                                 lines + 4, r"unknown key \"fdqn\"")

    def test_a_bad_duration_exits_78_with_file_and_line(self):
        text = "# transportcertd\n\n[monitor]\n; thresholds\nwarn_before = 30d 2weeks\n"
        self.assert_config_error(text, 5, r"bad duration")

    def test_a_renewal_due_as_soon_as_the_certificate_is_made_exits_78(self):
        text = "[monitor]\nrenew_before = 2h\n[selfsigned]\nvalidity = 1h\n"
        self.assert_config_error(text, 4, r"renew_before \(2h\) must be shorter than "
                                          r"\[selfsigned\] validity \(1h\)")

    def test_an_unknown_section_exits_78_with_file_and_line(self):
        self.assert_config_error("[daemon]\nfqdn = mail.example.com\n[tls]\n", 3,
                                 r"unknown section \[tls\]")

    def test_a_duplicate_key_exits_78(self):
        self.assert_config_error("[publish]\nnames = a.example.com\nnames = b.example.com\n",
                                 3, r"names.*twice")

    def test_an_unknown_option_exits_78(self):
        rc, _, err = self.run_daemon("--frobnicate")
        self.assertEqual(rc, EX_CONFIG)
        self.assertIn("--frobnicate", err)

    def test_a_bad_option_value_exits_78(self):
        for args in (["--bus", "sideways"], ["--log-level", "loud"], ["--log-target", "paper"]):
            rc, _, err = self.run_daemon(*args)
            self.assertEqual(rc, EX_CONFIG, args)
            self.assertIn(args[1], err)

    def test_a_missing_explicitly_named_config_exits_78(self):
        missing = os.path.join(self.tmp, "missing.conf")
        rc, _, err = self.run_daemon("--config", missing)
        self.assertEqual(rc, EX_CONFIG)
        self.assertIn(missing, err)

    def test_check_config_prints_the_effective_configuration(self):
        rc, out, err = self.run_with_config(
            self.config_text({"monitor": {"warn_before": "4s 1d 12h"},
                              "publish": {"names": "Other.Example.COM."}}), "--check-config")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, rf"(?m)^fqdn = {re.escape(FQDN)}$")
        self.assertRegex(out, rf"(?m)^store = {re.escape(self.store)}$")
        self.assertRegex(out, r"(?m)^warn_before = 1d 12h 4s$", "sorted, largest first")
        self.assertRegex(out, r"(?m)^renew_before = 30d$", "the default")
        self.assertRegex(out, r"(?m)^key = ec:P-256$")
        self.assertRegex(out, r"(?m)^names = other\.example\.com$", "normalized")
        self.assertFalse(os.path.exists(self.store), "--check-config changes nothing")

    def test_check_config_rejects_a_bad_config(self):
        rc, out, err = self.run_with_config("[selfsigned]\nkey = dsa:1024\n", "--check-config")
        self.assertEqual(rc, EX_CONFIG)
        self.assertIn(f"{self.config_path}:2: ", err)
        self.assertEqual(out, "")

    def test_version_and_help_exit_0(self):
        rc, out, _ = self.run_daemon("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^transportcertd \d+\.\d+")
        rc, out, _ = self.run_daemon("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--check-config", out)

    def test_a_corrupt_bindings_file_stops_the_start_and_is_kept(self):
        os.makedirs(self.state, mode=0o700)
        bindings = os.path.join(self.state, "bindings")
        self.write_file(bindings, "internal-transport not-a-thumbprint\n")
        self.write_config()
        rc, _, err = self.run_daemon("--config", self.config_path, "--bus", "session",
                                     "--log-target", "console")
        self.assertEqual(rc, 1, err)
        self.assertIn(bindings, err)
        self.assertEqual(self.read(bindings), "internal-transport not-a-thumbprint\n",
                         "a corrupt state file is never silently reset")


class Shutdown(DaemonTest):
    """SIGTERM and SIGINT stop cleanly, without temporary files left behind."""

    def test_sigterm_stops_cleanly_without_temporary_files(self):
        self.start()
        self.wait_for_first_internal_transport()
        self.assertEqual(self.stop(signal.SIGTERM), 0, self.log_tail())
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(len(self.logged(r"^stopping: SIGTERM$")), 1)

    def test_sigint_stops_cleanly(self):
        self.start()
        self.wait_for_first_internal_transport()
        self.assertEqual(self.stop(signal.SIGINT), 0, self.log_tail())
        self.assertEqual(self.temporary_files(), [])

    def test_sigterm_during_key_generation_leaves_a_consistent_store(self):
        # RSA 4096 takes long enough to be stopped in the middle of it.
        self.write_config({"selfsigned": {"key": "rsa:4096"}})
        self.start()
        self.wait_for_log(r"generating a self-signed rsa:4096", timeout=GENERATION_TIMEOUT)
        self.assertEqual(self.stop(signal.SIGTERM, timeout=60), 0, self.log_tail())
        self.assertEqual(self.temporary_files(), [])
        self.assert_generation_finished_or_left_nothing()

    def test_sigterm_does_not_wait_for_a_hanging_reload_command(self):
        """A reload command that hangs does not keep the daemon from stopping: it is sent
        SIGTERM and no longer waited for."""
        pid_file = os.path.join(self.tmp, "reload.pid")
        self.write_config({"publish": {"reload_command": f"echo $$ > '{pid_file}'; exec sleep 30"}})
        self.start()
        self.wait_for_log(r"^running reload command: ", timeout=GENERATION_TIMEOUT)
        pid = int(self.wait_until(lambda: os.path.exists(pid_file) and self.read(pid_file).strip(),
                                  PICKUP_TIMEOUT, "the reload command's pid"))
        self.addCleanup(self.stop_pid, pid)
        self.assertEqual(self.stop(timeout=3), 0)

    def test_stale_temporary_files_are_removed_at_start(self):
        os.makedirs(self.store, mode=0o700)
        os.makedirs(self.published, mode=0o700)
        for path in (os.path.join(self.store, ".transportcertd-X.pem.tmp-a1b2c3"),
                     os.path.join(self.published, ".internal-transport.pem.tmp-d4e5f6")):
            with open(path, "w", encoding="ascii") as f:
                f.write("half")
        self.start()
        self.wait_for_first_internal_transport()
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(len(self.logged(r"removed 1 unfinished temporary file")), 2,
                         self.log_tail())
        self.assertEqual(self.stop(), 0)


class Publishing(DaemonTest):
    """docs/publishing.md: modes, group, and the reload command's exit status."""

    def test_publish_group_makes_published_keys_group_readable(self):
        try:
            group = grp.getgrnam("nogroup")
        except KeyError:
            self.skipTest("no group nogroup on this system")
        self.write_config({"publish": {"group": "nogroup"}})
        self.start()
        self.wait_for_first_internal_transport()
        for name in ("internal-transport.pem", f"{FQDN}.pem"):
            info = os.stat(os.path.join(self.published, name))
            self.assertEqual(stat.S_IMODE(info.st_mode), 0o640, name)
            self.assertEqual(info.st_gid, group.gr_gid, name)
        # The store keeps its keys private whatever publish.group says.
        for name in self.store_files():
            self.assert_mode(os.path.join(self.store, name), 0o600)

    def test_files_it_wrote_for_names_no_longer_published_are_removed_and_no_others(self):
        other, third = "other.example.com", "third.example.com"
        self.put_in_store("other.pem", self.certs.make(other).pem)
        self.put_in_store("third.pem", self.certs.make(third).pem)
        self.write_config({"publish": {"names": f"{other} {third}"}})
        self.start()
        self.wait_for_first_internal_transport()
        self.wait_until(lambda: self.published_blocks(f"{third}.pem"), PICKUP_TIMEOUT,
                        "both names published")
        # Files the daemon did not write: an administrator's own, and one of its files that
        # the administrator changed since.
        by_hand = {"by-hand.example.com.pem": "an administrator's file\n",
                   "notes.txt": "keep me\n"}
        for name, text in by_hand.items():
            self.write_file(os.path.join(self.published, name), text)
        with open(os.path.join(self.published, f"{third}.pem"), "a", encoding="ascii") as f:
            f.write("# changed by hand\n")
        third_text = self.read(os.path.join(self.published, f"{third}.pem"))

        # The FQDN changes and both names leave publish.names.
        self.write_config({"daemon": {"fqdn": "new.example.com"}})
        self.send(signal.SIGHUP)
        self.wait_until(lambda: not os.path.exists(os.path.join(self.published, f"{other}.pem"))
                        and not os.path.exists(os.path.join(self.published, f"{FQDN}.pem"))
                        and self.read(os.path.join(self.published, "sni-map")) == "",
                        GENERATION_TIMEOUT, f"{other}.pem and {FQDN}.pem removed, sni-map empty")
        self.wait_for_log(rf"removed .*/{re.escape(other)}\.pem: it is no longer published")
        self.assertTrue(self.published_blocks("internal-transport.pem"))
        for name, text in by_hand.items():
            self.assertEqual(self.read(os.path.join(self.published, name)), text, name)
        self.assertEqual(self.read(os.path.join(self.published, f"{third}.pem")), third_text,
                         "a file changed by hand is not the daemon's any more")
        self.assertEqual(self.stop(), 0)

    def test_an_unknown_publish_group_is_a_configuration_error(self):
        self.write_config({"publish": {"group": "no-such-group-here"}})
        self.start()
        self.assertEqual(self.daemon.wait(timeout=EXIT_TIMEOUT), EX_CONFIG)
        self.assertRegex(self.log(), rf"{re.escape(self.config_path)}:\d+: group: "
                                     r"group \"no-such-group-here\" does not exist")
        self.assertFalse(os.path.exists(self.published), "nothing published")

    def test_a_certificate_is_published_when_its_not_before_arrives(self):
        now = int(time.time())
        future = self.certs.make("later.example.com", not_before=now + 3)
        self.put_in_store("later.pem", future.pem)
        self.write_config({"publish": {"names": "later.example.com"}})
        self.start()
        self.wait_for_first_internal_transport()
        path = os.path.join(self.published, "later.example.com.pem")
        self.assertFalse(os.path.exists(path), "not published before its NotBefore")
        self.wait_until(lambda: self.published_thumbprint("later.example.com.pem")
                        == future.thumbprint, future.not_before - time.time() + PICKUP_TIMEOUT,
                        "published once valid")
        self.assertGreaterEqual(os.stat(path).st_mtime, future.not_before)
        self.assert_reloads(2)

    def test_a_failing_reload_command_is_reported_and_the_daemon_keeps_running(self):
        self.write_config({"publish": {"reload_command": "exit 3"}})
        self.start()
        failed = self.wait_for_log(r'reload command "exit 3" failed: exit status 3',
                                   timeout=GENERATION_TIMEOUT)
        self.assertEqual(failed[0].level, "error")
        self.assertIsNone(self.daemon.poll())
        self.assertEqual(self.stop(), 0)

    def test_a_reload_command_that_cannot_run_is_reported(self):
        self.write_config({"publish": {"reload_command": "/nonexistent/reload-the-mailer"}})
        self.start()
        self.wait_for_log(r'reload command "/nonexistent/reload-the-mailer" failed: exit status '
                          r'127', timeout=GENERATION_TIMEOUT)
        self.assertIsNone(self.daemon.poll())


if __name__ == "__main__":
    unittest.main()
