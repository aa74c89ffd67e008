#!/usr/bin/env python3
"""A real Dovecot presents what transportcertd selects for IMAP (docs/mail-servers.md, Dovecot).

The test wires a private Dovecot 2.3 instance to transportcertd with the shipped snippet
packaging/examples/dovecot-transportcertd.conf, as it is (only publish.dir is the test's), and
the transportcertd.conf lines its comments give (only the reload command differs: there is no
systemd here, so it is `doveadm -c CONF reload`). Then, with `openssl s_client -starttls imap`:

1. a name whose certificate is enabled for IMAP only gets that certificate from Dovecot, while
   the top-level (SMTP) file for the name holds the SMTP selection;
2. a renewal of that IMAP certificate reaches the wire after the reload command, which is told
   `imap/<name>.pem` changed;
3. once the name has no eligible IMAP certificate its file is kept, so a later change (a
   renewed internal transport certificate for the FQDN) still reaches the wire;
4. and why that matters: with a local_name file removed by hand, Dovecot refuses the reload
   (`doveadm reload` exits 0) and keeps presenting the old certificate.

`transportcertctl verify` (its $TRANSPORTCERTCTL_BIN) agrees with s_client: `match` for each
name in 1, `differs` with exit status 1 for the frozen Dovecot of 4.

Dovecot is /usr/sbin/dovecot when dovecot-imapd is installed (scripts/deps installs it).
Otherwise the test runs Dovecot from its unpacked Debian packages, without installing them:
`apt-get download dovecot-core dovecot-imapd`, `dpkg -x` into $TRANSPORTCERTD_DOVECOT_ROOT
(kept for the next run), and each Dovecot command in a private mount namespace where that tree
is laid over /usr (unshare, overlayfs). Either way it needs root. Exit status 77: skipped
(the reason is printed).

    TRANSPORTCERTD_BIN=build/daemon/transportcertd tests/mailservers/dovecot_test.py -v
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # importing the helpers leaves no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_integration_test import (  # noqa: E402  pylint: disable=wrong-import-position
    BIN, FQDN, PICKUP_TIMEOUT, THUMBPRINT, DaemonTest, pem_blocks, thumbprint_of)
from mailserver_support import (  # noqa: E402  pylint: disable=wrong-import-position
    free_loopback_port, over_usr_prefix, require_root, snippet_transportcertd_conf, unpacked)

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SNIPPET = os.path.join(SOURCE, "packaging", "examples", "dovecot-transportcertd.conf")
DEFAULT_PUBLISH_DIR = "/var/lib/transportcertd/published"
NAME = "imap.example.com"  # the snippet's publish.names entry
MANAGER = ("org.transportcertd1", "/org/transportcertd1", "org.transportcertd1.Manager")
PRESENT_TIMEOUT = 15.0  # a published change reaches what a new IMAP connection is presented
UNPACKED = os.environ.get("TRANSPORTCERTD_DOVECOT_ROOT", "")
CTL = os.environ.get("TRANSPORTCERTCTL_BIN", "")


def dovecot_prefix():
    """The command prefix that runs Dovecot's programs, or raises unittest.SkipTest."""
    require_root("Dovecot reads its files and switches users")
    if os.path.exists("/usr/sbin/dovecot") and os.path.exists("/usr/lib/dovecot/imap-login"):
        return []
    return over_usr_prefix(unpacked(UNPACKED, ["dovecot-core", "dovecot-imapd"],
                                    "/usr/sbin/dovecot"))


class Dovecot:
    """A private Dovecot instance on a loopback port, configured with the shipped snippet."""

    def __init__(self, root, prefix, publish_dir):
        self.root = root
        self.prefix = prefix
        self.port = free_loopback_port()
        self.conf = os.path.join(root, "dovecot.conf")
        self.log_path = os.path.join(root, "dovecot.log")
        for sub in ("run", "state", "home", "mail"):
            os.makedirs(os.path.join(root, sub))
        snippet = open(SNIPPET, encoding="utf-8").read().replace(DEFAULT_PUBLISH_DIR, publish_dir)
        with open(os.path.join(root, "99-transportcertd.conf"), "w", encoding="utf-8") as f:
            f.write(snippet)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
ssl_dh = </usr/share/dovecot/dh.pem
passdb {{
  driver = static
  args = password=unused
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home
}}
mail_location = maildir:{root}/mail
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
!include {root}/99-transportcertd.conf
""")

    def command(self, *args):
        return [*self.prefix, *args]

    def start(self):
        # It forks into the background, so its output goes to a file, not to a pipe.
        output = os.path.join(self.root, "start.out")
        with open(output, "w", encoding="utf-8") as out:
            result = subprocess.run(self.command("dovecot", "-c", self.conf), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=30, check=False)
        if result.returncode != 0:
            raise AssertionError(f"dovecot did not start ({result.returncode}): "
                                 f"{open(output, encoding='utf-8').read()}\n{self.log()}")

    def stop(self):
        """Stops the instance and waits until its master process is gone."""
        try:
            pid = int(open(os.path.join(self.root, "run", "master.pid"),
                           encoding="ascii").read())
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

    def log(self):
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()
        except FileNotFoundError:
            return ""

    def presented(self, name):
        """Thumbprint of the leaf a new IMAP connection is presented for SNI `name`, or None."""
        result = subprocess.run(
            ["openssl", "s_client", "-starttls", "imap", "-connect", f"127.0.0.1:{self.port}",
             "-servername", name], stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=20, check=False)
        for label, der in pem_blocks(result.stdout):
            if label == "CERTIFICATE":
                return thumbprint_of(der)
        return None


class DovecotIntegration(DaemonTest):
    """The snippet's Dovecot presents the IMAP selection and follows it through reloads."""

    def setUp(self):
        super().setUp()
        self.prefix = dovecot_prefix()
        self.changed_log = os.path.join(self.tmp, "changed")
        self.dovecot = Dovecot(os.path.join(self.tmp, "dovecot"), self.prefix, self.published)
        self.addCleanup(self.dovecot.stop)
        reload = " ".join(shlex.quote(a) for a in self.dovecot.command(
            "doveadm", "-c", self.dovecot.conf, "reload"))
        changes = snippet_transportcertd_conf(SNIPPET)
        self.assertEqual(changes["daemon"]["fqdn"], FQDN)
        self.assertEqual(changes["publish"]["names"], NAME)
        self.assertEqual(changes["publish"]["reload_command"],
                         "systemctl try-reload-or-restart dovecot")
        # A script, as docs/mail-servers.md suggests for long commands (lines are bounded).
        # Like `systemctl try-reload-or-restart`, it does nothing while Dovecot is not running.
        script = os.path.join(self.tmp, "reload-dovecot")
        pid_file = os.path.join(self.dovecot.root, "run", "master.pid")
        with open(script, "w", encoding="utf-8") as f:
            f.write(f"#!/bin/sh\necho \"$TRANSPORTCERTD_CHANGED\" >> '{self.changed_log}'\n"
                    f"[ -s '{pid_file}' ] && kill -0 \"$(cat '{pid_file}')\" || exit 0\n"
                    f"exec {reload}\n")
        os.chmod(script, 0o700)
        changes["publish"]["reload_command"] = script
        self.write_config(changes)

    def call(self, method, signature, *args):
        return self.busctl("--", "call", *MANAGER, method, signature, *args)

    def import_for(self, pem, *services):
        return self.call("ImportCertificate", "sas", pem, str(len(services)),
                         *services).split('"')[1]

    def verify(self):
        """`transportcertctl verify --json` on Dovecot's IMAP port: (exit status, rows by name)."""
        self.assertTrue(CTL and os.access(CTL, os.X_OK), "TRANSPORTCERTCTL_BIN names the command")
        result = subprocess.run(
            [CTL, "--bus", "session", "--json=short", "verify", "--endpoint",
             f"{self.dovecot.port}/imap"], capture_output=True, text=True, timeout=60,
            check=False, env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.bus_address))
        rows = {row["name"]: row for row in json.loads(result.stdout or "[]")}
        return result.returncode, rows

    def wait_presented(self, name, thumbprint, what):
        self.wait_until(lambda: self.dovecot.presented(name) == thumbprint, PRESENT_TIMEOUT,
                        f"Dovecot to present {what} for {name}",
                        on_timeout=lambda: f"presented {self.dovecot.presented(name)}, "
                                           f"Dovecot's log:\n{self.dovecot.log()}")

    def start_both(self):
        """The daemon, an SMTP-only and an IMAP-only certificate for NAME, then Dovecot."""
        self.start()
        internal = self.wait_for_first_internal_transport()
        now = int(time.time())
        smtp = self.import_for(self.certs.make(NAME, not_before=now - 120).pem, "SMTP")
        imap = self.import_for(self.certs.make(NAME, not_before=now - 120).pem, "IMAP")
        self.wait_until(lambda: self.published_thumbprint(f"imap/{NAME}.pem") == imap
                        and self.published_thumbprint(f"imap/{FQDN}.pem") == internal,
                        PICKUP_TIMEOUT, "the IMAP selections published under imap/")
        self.wait_for_reloads_to_finish()
        self.dovecot.start()  # after transportcertd, as the snippet's start order says
        return internal, smtp, imap

    def test_imap_selection_on_the_wire_through_renewals_and_a_lost_certificate(self):
        internal, smtp, imap = self.start_both()
        self.wait_presented(NAME, imap, "the IMAP-only certificate")
        self.wait_presented(FQDN, internal, "the internal transport certificate")
        self.assertEqual(self.published_thumbprint(f"{NAME}.pem"), smtp,
                         "the SMTP selection stays in the top-level file")
        self.assertEqual(self.call("SelectCertificate", "ss", NAME, "SMTP").split('"')[1], smtp)
        # transportcertctl verify sees the same on the wire: each name's IMAP selection.
        code, rows = self.verify()
        self.assertEqual(code, 0, rows)
        self.assertEqual({name: (row["service"], row["verdict"], row["served"])
                          for name, row in rows.items()},
                         {NAME: ("IMAP", "match", imap), FQDN: ("IMAP", "match", internal)})

        # A renewal of the IMAP certificate reaches the wire through the reload command.
        renewed = self.import_for(self.certs.make(NAME, not_before=time.time() - 60).pem, "IMAP")
        self.wait_presented(NAME, renewed, "the renewed IMAP certificate")
        self.assertIn(f"imap/{NAME}.pem", self.read(self.changed_log).split())
        self.assertEqual(self.published_thumbprint(f"{NAME}.pem"), smtp)

        # The name loses its last IMAP certificate: its file stays, and Dovecot keeps working.
        # (The calls return once the daemon has published what they change.)
        self.call("DisableCertificate", "sas", imap, "1", "IMAP")
        self.call("DisableCertificate", "sas", renewed, "1", "IMAP")
        new_internal = self.call("RenewInternalTransportCertificate", "").split('"')[1]
        self.assertRegex(new_internal, THUMBPRINT)
        self.wait_presented(FQDN, new_internal, "the renewed internal transport certificate")
        self.wait_presented(NAME, renewed, "the kept certificate")
        self.assertEqual(self.published_thumbprint(f"imap/{NAME}.pem"), renewed)
        self.assertEqual(len(self.logged(rf"^no certificate is eligible for {re.escape(NAME)} "
                                         r"\(IMAP\); keeping the published file")), 1,
                         self.log_tail())
        # No published file went missing. (Dovecot's own "No such file" errors for its runtime
        # files, from a login process started while two quick reloads re-read the configuration,
        # are not ours: only a certificate file would name a .pem.)
        self.assertNotRegex(self.dovecot.log(),
                            r"Error: .*(\.pem.*No such file|No such file.*\.pem)")

    def test_a_missing_local_name_file_freezes_dovecot(self):
        """Why a name keeps its file: Dovecot refuses reloads while one is missing."""
        internal, _, imap = self.start_both()
        self.wait_presented(FQDN, internal, "the internal transport certificate")
        self.call("DisableCertificate", "sas", imap, "1", "IMAP")
        self.wait_for_log(rf"^no certificate is eligible for {re.escape(NAME)} \(IMAP\); "
                          r"keeping the published file")
        os.remove(os.path.join(self.published, "imap", f"{NAME}.pem"))  # as it used to be

        reloads = len(self.logged(r"^reload command finished: exit status 0"))
        new_internal = self.call("RenewInternalTransportCertificate", "").split('"')[1]
        self.wait_until(lambda: self.published_thumbprint(f"imap/{FQDN}.pem") == new_internal,
                        PICKUP_TIMEOUT, "the renewed certificate published")
        self.wait_for_log(r"^reload command finished: exit status 0", count=reloads + 1)
        self.wait_until(lambda: re.search(rf"{re.escape(NAME)}\.pem.*No such file|"
                                          rf"No such file.*{re.escape(NAME)}\.pem",
                                          self.dovecot.log()),
                        PRESENT_TIMEOUT, "Dovecot to refuse the reload",
                        on_timeout=self.dovecot.log)
        self.assertEqual(self.dovecot.presented(FQDN), internal,
                         "a frozen Dovecot keeps presenting the old certificate")
        # What transportcertctl verify is for: it catches the frozen server.
        code, rows = self.verify()
        self.assertEqual(code, 1, rows)
        self.assertEqual((rows[FQDN]["verdict"], rows[FQDN]["served"], rows[FQDN]["expected"]),
                         ("differs", internal, new_internal), rows)


def main():
    if not BIN:
        print("dovecot test: skipped: TRANSPORTCERTD_BIN is not set", file=sys.stderr)
        sys.exit(77)
    try:
        dovecot_prefix()
    except unittest.SkipTest as skipped:
        print(f"dovecot test: skipped: {skipped}", file=sys.stderr)
        sys.exit(77)
    unittest.main()


if __name__ == "__main__":
    main()
