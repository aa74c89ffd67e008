#!/usr/bin/env python3
"""A real Exim 4.96 presents what transportcertd selects, by SNI (docs/mail-servers.md, Exim).

Exim is configured as an administrator following packaging/examples/exim4-localmacros would:
the snippet appended to /etc/exim4/exim4.conf.localmacros as it is, the publish directory made
with the `install -d` line of its comments, the transportcertd.conf lines of its comments
(no reload command), and `update-exim4.conf` building the configuration from Debian's
template. Then, with `openssl s_client -starttls smtp`:

1. SNI smtp.example.com (in any case) gets the certificate selected for it; no SNI, the FQDN
   and unknown names get the internal transport certificate;
2. the files are 0640 root:Debian-exim in a 0750 directory, which Exim (reading them as
   Debian-exim on each connection) can enter;
3. a renewal reaches the next connection with no reload command at all.

Installing Exim on Debian removes Postfix, so Exim runs from its unpacked packages
(exim4-base, exim4-config, exim4-daemon-light, libidn12; $TRANSPORTCERTD_EXIM_ROOT, kept for
the next run) unless it is installed. Each command, the daemon's too, runs in a mount namespace
of its own where that tree is laid over /usr, /etc has a Debian-exim user and group and
/etc/mailname, and /etc/exim4 is the test's directory: nothing on the machine changes. Needs
root; exit status 77: skipped (the reason is printed).

    TRANSPORTCERTD_BIN=build/daemon/transportcertd tests/mailservers/exim_test.py -v
"""

import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # importing the helpers leaves no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_integration_test import (  # noqa: E402  pylint: disable=wrong-import-position
    BIN, FQDN, PICKUP_TIMEOUT, DaemonTest)
from mailserver_support import (  # noqa: E402  pylint: disable=wrong-import-position
    free_loopback_port, presented, require_root, snippet_transportcertd_conf, unpacked)

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SNIPPET = os.path.join(SOURCE, "packaging", "examples", "exim4-localmacros")
NAME = "smtp.example.com"  # the snippet's publish.names entry
PUBLISH_DIR = "/etc/exim4/transportcertd"  # the snippet's, inside the namespace
PRESENT_TIMEOUT = 15.0
UNPACKED = os.environ.get("TRANSPORTCERTD_EXIM_ROOT", "")
EXIM_UID = 60901  # for a Debian-exim made up inside the namespace, when there is none

# $0: the tree laid over /usr ("" when Exim is installed), $1: the test's directory.
NAMESPACE = """
[ -z "$0" ] || mount -t overlay overlay -o lowerdir="$0/usr:/usr" /usr || exit 1
mount -t overlay overlay -o lowerdir="$1/etc-extra:/etc" /etc || exit 1
mount --bind "$1/exim4" /etc/exim4 || exit 1
shift
exec "$@"
"""


def exim_root():
    require_root("Exim binds, reads its files and switches users")
    if os.path.exists("/usr/sbin/exim4"):
        return ""
    return unpacked(UNPACKED, ["exim4-base", "exim4-config", "exim4-daemon-light", "libidn12"],
                    "/usr/sbin/exim4")


class EximIntegration(DaemonTest):
    """The snippet's Exim presents, by SNI, what transportcertd publishes; no reload needed."""

    def setUp(self):
        super().setUp()
        root = exim_root()
        # Exim writes its spool and log as Debian-exim: it must be able to get there.
        os.chmod(self.tmp, 0o711)
        self.work = os.path.join(self.tmp, "exim")
        extra = os.path.join(self.work, "etc-extra")
        self.exim4 = os.path.join(self.work, "exim4")
        os.makedirs(os.path.join(extra, "exim4"))
        os.chmod(self.work, 0o711)
        template_root = root or "/"
        shutil.copytree(os.path.join(template_root, "etc", "exim4"), self.exim4)
        os.chmod(self.exim4, 0o755)
        for name in ("passwd", "group"):
            shutil.copy(os.path.join("/etc", name), os.path.join(extra, name))
        try:
            uid, gid = pwd.getpwnam("Debian-exim").pw_uid, grp.getgrnam("Debian-exim").gr_gid
        except KeyError:
            uid = gid = EXIM_UID
            with open(os.path.join(extra, "passwd"), "a", encoding="utf-8") as f:
                f.write(f"Debian-exim:x:{uid}:{gid}::/nonexistent:/usr/sbin/nologin\n")
            with open(os.path.join(extra, "group"), "a", encoding="utf-8") as f:
                f.write(f"Debian-exim:x:{gid}:\n")
        self.exim_gid = gid
        with open(os.path.join(extra, "mailname"), "w", encoding="utf-8") as f:
            f.write(f"{FQDN}\n")
        for sub in ("spool", "log"):
            os.makedirs(os.path.join(self.work, sub))
            os.chown(os.path.join(self.work, sub), uid, gid)
        self.prefix = ["unshare", "-m", "sh", "-c", NAMESPACE, root, self.work]

        # What the snippet says to do: append it, make the directory, build the configuration.
        with open(os.path.join(self.exim4, "update-exim4.conf.conf"), "w",
                  encoding="utf-8") as f:
            f.write("dc_eximconfig_configtype='local'\ndc_local_interfaces='127.0.0.1'\n"
                    "dc_use_split_config='false'\ndc_localdelivery='mail_spool'\n")
        with open(SNIPPET, encoding="utf-8") as snippet:
            macros = snippet.read()
        with open(os.path.join(self.exim4, "exim4.conf.localmacros"), "a",
                  encoding="utf-8") as f:
            f.write(macros)
            f.write(f"SPOOLDIR = {self.work}/spool\nlog_file_path = {self.work}/log/%slog\n")
        install = re.search(r"^#\s+(install -d .*)$", macros, re.M).group(1).split()
        self.assertEqual(install[-1], PUBLISH_DIR)
        self.in_namespace(*install)
        self.in_namespace("update-exim4.conf", "-o", "/etc/exim4/exim4.conf.generated")
        self.published = os.path.join(self.exim4, "transportcertd")  # the same, from outside

        changes = snippet_transportcertd_conf(SNIPPET)
        self.assertEqual(changes["publish"]["dir"], PUBLISH_DIR)
        self.assertEqual(changes["publish"]["group"], "Debian-exim")
        self.assertEqual(changes["publish"]["names"], NAME)
        self.assertNotIn("reload_command", changes["publish"], "Exim needs no reload")
        changes["publish"]["reload_command"] = None  # none at all
        self.changes = changes
        self.write_config(changes)
        self.port = free_loopback_port()

    def in_namespace(self, *args):
        result = subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                                timeout=60, check=False)
        self.assertEqual(result.returncode, 0, f"{' '.join(args)}: {result.stdout}"
                                               f"{result.stderr}")

    def start_exim(self):
        pid_file = os.path.join(self.work, "exim.pid")
        self.in_namespace("exim4", "-C", "/etc/exim4/exim4.conf.generated", "-bd",
                          "-oX", str(self.port), "-oP", pid_file)
        self.addCleanup(self.stop_exim, pid_file)
        self.wait_until(lambda: presented(self.port, "smtp") is not None, PRESENT_TIMEOUT,
                        "Exim to offer STARTTLS", on_timeout=self.exim_log)

    def stop_exim(self, pid_file):
        try:
            with open(pid_file, encoding="ascii") as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def exim_log(self):
        text = ""
        for name in ("mainlog", "paniclog", "rejectlog"):
            try:
                with open(os.path.join(self.work, "log", name), encoding="utf-8",
                          errors="replace") as f:
                    text += f"--- {name}\n{f.read()}"
            except FileNotFoundError:
                pass
        return text

    def import_smtp(self, pem):
        out = self.busctl("--", "call", "org.transportcertd1", "/org/transportcertd1",
                          "org.transportcertd1.Manager", "ImportCertificate", "sas", pem, "1",
                          "SMTP")
        return out.split('"')[1]

    def assert_presented(self, name, thumbprint, what):
        self.wait_until(lambda: presented(self.port, "smtp", name) == thumbprint,
                        PRESENT_TIMEOUT, f"Exim to present {what} for SNI {name}",
                        on_timeout=lambda: f"presented {presented(self.port, 'smtp', name)}\n"
                                           + self.exim_log())

    def test_sni_by_name_and_a_renewal_without_reload(self):
        self.start(prefix=self.prefix)
        internal = self.wait_for_first_internal_transport()
        now = int(time.time())
        first = self.import_smtp(self.certs.make(NAME, not_before=now - 120).pem)
        self.wait_until(lambda: self.published_thumbprint(f"{NAME}.pem") == first,
                        PICKUP_TIMEOUT, f"{NAME}.pem published")
        self.start_exim()

        self.assert_presented(NAME, first, "the certificate selected for it")
        self.assert_presented(NAME.upper(), first, "the certificate selected for it")
        self.assert_presented(None, internal, "the internal transport certificate")
        self.assert_presented(FQDN, internal, "the internal transport certificate")
        self.assert_presented("other.example.com", internal,
                              "the internal transport certificate")
        folder = os.stat(self.published)
        self.assertEqual((stat.S_IMODE(folder.st_mode), folder.st_gid), (0o750, self.exim_gid))
        for name in ("internal-transport.pem", f"{NAME}.pem"):
            info = os.stat(os.path.join(self.published, name))
            self.assertEqual((stat.S_IMODE(info.st_mode), info.st_gid), (0o640, self.exim_gid),
                             name)

        renewed = self.import_smtp(self.certs.make(NAME, not_before=now - 60).pem)
        self.assert_presented(NAME, renewed, "the renewed certificate, with no reload")
        self.assertEqual(self.logged(r"^running reload command"), [])

    def test_without_publish_group_exim_cannot_read_the_files(self):
        """Why the snippet sets publish.group: the files are then 0600 root, and Exim, reading
        them as Debian-exim, fails the TLS handshake."""
        self.changes["publish"]["group"] = None
        self.write_config(self.changes)
        self.start(prefix=self.prefix)
        self.wait_for_first_internal_transport()
        pid_file = os.path.join(self.work, "exim.pid")
        self.in_namespace("exim4", "-C", "/etc/exim4/exim4.conf.generated", "-bd",
                          "-oX", str(self.port), "-oP", pid_file)
        self.addCleanup(self.stop_exim, pid_file)
        # Each connection that asks for STARTTLS makes Exim read the file, and fail.
        self.wait_until(lambda: presented(self.port, "smtp", FQDN) is None
                        and "Error while reading file" in self.exim_log(), PRESENT_TIMEOUT,
                        "Exim to fail reading the published file", on_timeout=self.exim_log)


def main():
    if not BIN:
        print("exim test: skipped: TRANSPORTCERTD_BIN is not set", file=sys.stderr)
        sys.exit(77)
    try:
        exim_root()
    except unittest.SkipTest as skipped:
        print(f"exim test: skipped: {skipped}", file=sys.stderr)
        sys.exit(77)
    unittest.main()


if __name__ == "__main__":
    main()
