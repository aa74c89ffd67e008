#include "daemon/setup_warnings.h"

#include <sys/stat.h>

#include <set>
#include <string>

#include "daemon/logging.h"

namespace transportcertd {

void WarnAboutSetup(const Config& config, const Inventory& inventory) {
  if (config.fqdn.find('.') == std::string::npos) {
    spdlog::warn(
        "fqdn \"{}\" has no dot: other mail servers cannot know this host by a single-label "
        "name, and certificates are rarely issued for one; set [daemon] fqdn",
        config.fqdn);
  }
  std::set<std::string> key_files;
  for (const auto& stored : inventory.certificates) {
    if (stored.HasPrivateKey()) key_files.insert(inventory.Path(stored.key_file_name));
  }
  for (const auto& file : key_files) {
    struct stat st {};
    if (stat(file.c_str(), &st) != 0 || (st.st_mode & 077) == 0) continue;
    const char* who = (st.st_mode & 070) != 0 && (st.st_mode & 07) != 0 ? "group and others"
                      : (st.st_mode & 070) != 0                         ? "its group"
                                                                        : "others";
    spdlog::warn("{}: holds a private key and is readable by {} (mode {:04o}); chmod 600 it",
                 EscapeControlCharacters(file), who, st.st_mode & 07777);
  }
}

}  // namespace transportcertd
