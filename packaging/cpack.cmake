# The Debian package: `cpack -G DEB` in the build directory writes
# transportcertd_<version>-<release>_<arch>.deb. Included at the end of the top-level
# CMakeLists.txt, after every install() rule. docs/packaging.md tells how to build and install it.
#
# CPack installs the project with the prefix /usr whatever prefix the build was configured
# with; packaging/CMakeLists.txt then puts the unit, bus and config files in their Debian places.

# TRANSPORTCERTD_PACKAGE_MAINTAINER and TRANSPORTCERTD_PACKAGE_RELEASE are defined in
# packaging/CMakeLists.txt, which also writes the changelog and copyright files from them.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME transportcertd)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${TRANSPORTCERTD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Directories CPack creates itself are 0755 whatever the umask of the one who builds.
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_PACKAGE_NAME transportcertd)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${TRANSPORTCERTD_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The summary line comes from CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "transportcertd keeps a mail server's TLS certificates (Postfix, Exim,
Dovecot) in one store, decides which certificate each mail service presents
for a host name, and keeps a working internal transport certificate: when it
is missing, expiring or broken, the daemon generates a self-signed
replacement, publishes it and reloads the mail server.

It logs expiry alerts to the journal and answers questions over D-Bus
(org.transportcertd1), so administrators can ask transportcertctl or busctl
what is in use and why.")
# Library dependencies from dpkg-shlibdeps (package dpkg-dev), plus the system bus.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "dbus")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_LIST_DIR}/debian/conffiles"
    "${CMAKE_CURRENT_LIST_DIR}/debian/postinst"
    "${CMAKE_CURRENT_LIST_DIR}/debian/prerm"
    "${CMAKE_CURRENT_LIST_DIR}/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
