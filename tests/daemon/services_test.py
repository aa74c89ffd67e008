#!/usr/bin/env python3
"""Publishing per service (README, "Using it with your mail server"; docs/mail-servers.md).

With `[publish] services = SMTP IMAP` the SMTP selection stays at the top of publish.dir and
the IMAP selection of the same names is published under imap/, with its own sni-map. A name
that has no eligible certificate for IMAP keeps its previous imap/ file and alerts once: a
missing file stops Dovecot from reloading. The real daemon, a private bus, busctl to import
and enable, and the files on disk.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd services_test.py -v
"""

import grp
import os
import stat
import sys
import unittest

sys.dont_write_bytecode = True  # importing the base class leaves no __pycache__ in the tree
from daemon_integration_test import FQDN, PICKUP_TIMEOUT, DaemonTest  # noqa: E402

MANAGER = ("org.transportcertd1", "/org/transportcertd1", "org.transportcertd1.Manager")
NAME = "imap.example.com"
NO_ELIGIBLE = r"^no certificate is eligible for "


class PerServicePublishing(DaemonTest):
    """imap/<name>.pem holds what IMAP selects; the top level what SMTP selects."""

    def setUp(self):
        super().setUp()
        self.changed_log = os.path.join(self.tmp, "changed")
        self.write_config({"publish": {
            "names": NAME, "services": "SMTP IMAP",
            "reload_command": f"echo reload >> '{self.reloads}' && "
                              f"echo \"$TRANSPORTCERTD_CHANGED\" >> '{self.changed_log}'"}})

    def call(self, method, signature, *args):
        return self.busctl("--", "call", *MANAGER, method, signature, *args)

    def import_for(self, pem, *services):
        out = self.call("ImportCertificate", "sas", pem, str(len(services)), *services)
        return out.split('"')[1]

    def certificate_count(self):
        return int(self.busctl("get-property", *MANAGER, "CertificateCount").split()[1])

    def imap_file(self, name=NAME):
        return os.path.join("imap", f"{name}.pem")

    def changed(self):
        try:
            return [line.split() for line in self.read(self.changed_log).splitlines()]
        except FileNotFoundError:
            return []

    def test_imap_gets_its_own_selection_in_its_own_folder(self):
        smtp = self.certs.make(NAME)
        self.put_in_store("smtp.pem", smtp.pem)  # enabled for SMTP, the default_services
        self.start()
        internal = self.wait_for_first_internal_transport()
        imap = self.certs.make(NAME)
        imap_thumbprint = self.import_for(imap.pem, "IMAP")
        self.wait_until(lambda: self.published_thumbprint(self.imap_file()) == imap_thumbprint,
                        PICKUP_TIMEOUT, "the IMAP-only certificate published under imap/")
        self.wait_for_reloads_to_finish()

        # The SMTP selection at the top level, exactly as without services.
        self.assertEqual(self.published_thumbprint(f"{NAME}.pem"), smtp.thumbprint)
        self.assertEqual(self.published_thumbprint(f"{FQDN}.pem"), internal)
        self.assertEqual(self.published_thumbprint("internal-transport.pem"), internal)
        self.assert_published_bundle(self.imap_file(), imap_thumbprint)
        self.assert_mode(os.path.join(self.published, "imap"), 0o700)
        self.assertEqual(self.read(os.path.join(self.published, "imap", "sni-map")),
                         f"{NAME} {self.published}/imap/{NAME}.pem\n",
                         "only names with an IMAP certificate are in imap/sni-map")
        self.assertEqual(self.read(os.path.join(self.published, "sni-map")),
                         f"{FQDN} {self.published}/{FQDN}.pem\n"
                         f"{NAME} {self.published}/{NAME}.pem\n")
        self.assertEqual(self.call("SelectCertificate", "ss", NAME, "IMAP").split('"')[1],
                         imap_thumbprint)
        # The FQDN has no IMAP certificate (the internal transport one is SMTP only): said once.
        self.assertFalse(os.path.exists(os.path.join(self.published, self.imap_file(FQDN))))
        lacking = self.logged(NO_ELIGIBLE + rf"{FQDN} \(IMAP\); no file is published")
        self.assertEqual(len(lacking), 1, self.log_tail())
        # The reload command learns which files changed, with their folder.
        self.assertIn([f"imap/{NAME}.pem", "imap/sni-map"], self.changed())

    def test_a_name_losing_its_imap_certificate_keeps_its_file_and_alerts_once(self):
        self.start()
        self.wait_for_first_internal_transport()
        first = self.import_for(self.certs.make(NAME).pem, "IMAP")
        path = os.path.join(self.published, self.imap_file())
        self.wait_until(lambda: self.published_thumbprint(self.imap_file()) == first,
                        PICKUP_TIMEOUT, "the IMAP certificate published")
        self.wait_for_reloads_to_finish()
        before = self.read(path)
        reloads = self.reload_count()

        self.call("DisableCertificate", "sas", first, "1", "IMAP")
        alert = self.wait_for_log(NO_ELIGIBLE + rf"{NAME} \(IMAP\); keeping the published file "
                                  rf"{self.published}/imap/{NAME}\.pem as it is")
        self.assertEqual(len(alert), 1)
        self.assertEqual(self.read(path), before, "the previous file stays as it was")
        self.assertIn(f"{NAME} {path}\n", self.read(os.path.join(self.published, "imap",
                                                                 "sni-map")))
        # Later evaluations (another certificate arriving) do not repeat the alert.
        count = self.certificate_count()
        self.put_in_store("other.pem", self.certs.make("other.example.com").pem)
        self.wait_until(lambda: self.certificate_count() == count + 1, PICKUP_TIMEOUT,
                        "another certificate picked up")
        self.call("Reload", "")
        self.wait_for_reloads_to_finish()
        self.assertEqual(len(self.logged(NO_ELIGIBLE + rf"{NAME} \(IMAP\); keeping")), 1,
                         self.log_tail())
        self.assertEqual(self.reload_count(), reloads, "nothing published changed")

        # A new IMAP certificate takes the file over.
        renewed = self.import_for(self.certs.make(NAME).pem, "IMAP")
        self.wait_until(lambda: self.published_thumbprint(self.imap_file()) == renewed,
                        PICKUP_TIMEOUT, "the new IMAP certificate published")
        self.wait_for_log(rf"^{NAME} has an eligible certificate for IMAP again")

    def test_a_service_left_out_again_loses_its_folder_but_not_files_of_others(self):
        self.start()
        self.wait_for_first_internal_transport()
        thumbprint = self.import_for(self.certs.make(NAME).pem, "IMAP")
        self.wait_until(lambda: self.published_thumbprint(self.imap_file()) == thumbprint,
                        PICKUP_TIMEOUT, "the IMAP certificate published")
        by_hand = os.path.join(self.published, "imap", "by-hand.pem")
        self.write_file(by_hand, "not the daemon's\n")

        self.write_config({"publish": {"names": NAME}})  # services back to SMTP
        self.call("Reload", "")
        folder = os.path.join(self.published, "imap")
        self.wait_until(lambda: sorted(os.listdir(folder)) == ["by-hand.pem"], PICKUP_TIMEOUT,
                        "the daemon's imap/ files removed, the one written by hand kept")
        self.wait_for_log(r"^removed .*/imap/sni-map: it is no longer published")
        os.remove(by_hand)
        self.write_config({"publish": {"names": NAME, "services": "IMAP"}})
        self.call("Reload", "")
        self.wait_until(lambda: self.published_thumbprint(self.imap_file()) == thumbprint,
                        PICKUP_TIMEOUT, "imap/ published again")
        self.write_config({"publish": {"names": NAME}})
        self.call("Reload", "")
        self.wait_until(lambda: not os.path.exists(folder), PICKUP_TIMEOUT,
                        "an emptied service folder removed")

    def test_publish_group_gives_the_folder_and_its_files_to_the_group(self):
        try:
            group = grp.getgrnam("nogroup")
        except KeyError:
            self.skipTest("no group nogroup on this system")
        self.write_config({"daemon": {"default_services": "SMTP IMAP"},
                           "publish": {"names": NAME, "services": "SMTP IMAP",
                                       "group": "nogroup"}})
        self.start()
        internal = self.wait_for_first_internal_transport()
        path = os.path.join(self.published, self.imap_file(FQDN))
        self.wait_until(lambda: self.published_thumbprint(self.imap_file(FQDN)) == internal,
                        PICKUP_TIMEOUT, "the internal transport certificate, enabled for IMAP "
                        "by default_services, published under imap/ for the FQDN")
        for p, mode in ((os.path.join(self.published, "imap"), 0o750), (path, 0o640),
                        (os.path.join(self.published, "imap", "sni-map"), 0o640)):
            info = os.stat(p)
            self.assertEqual(stat.S_IMODE(info.st_mode), mode, p)
            self.assertEqual(info.st_gid, group.gr_gid, p)


if __name__ == "__main__":
    unittest.main()
