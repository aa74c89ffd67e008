// What the daemon publishes for the mail server, per service: which file, under which name and
// folder, holds which certificate, and what happens to a name that has no eligible
// certificate. The SMTP selection is published at the top of publish.dir (`<name>.pem`,
// `sni-map`); each other service listed in `[publish] services` gets the same names in a
// folder of its own, `imap/<name>.pem` and `imap/sni-map` for IMAP. A name that has no
// eligible certificate for such a service keeps its previous file (a mail server such as
// Dovecot refuses every reload once a file it names is missing); at the top level it loses its
// file unless the internal transport certificate awaits its replacement.
// Pure: the selection and the files on disk are asked through the input's callbacks.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "monitor/bindings.h"

namespace transportcertd {

// The folder of a service's files under publish.dir: "" for SMTP (the top level), else the
// service's name in lower case ("imap", "pop", "http").
std::string ServiceFolder(Service service);

// A published file's path relative to publish.dir: "mail.example.com.pem" for SMTP,
// "imap/mail.example.com.pem" for IMAP; `file` is a plain file name such as "sni-map".
std::string PublishedPath(Service service, const std::string& file);

// The services whose selection is published: SMTP always, plus those of `services`, in the
// order SMTP IMAP POP HTTP.
std::vector<Service> PublishedServices(ServiceSet services);

// Every file the configuration publishes, relative to publish.dir: internal-transport.pem,
// and `<name>.pem` for each of `names` plus `sni-map` for each published service.
std::set<std::string> PublishedPaths(const std::vector<std::string>& names, ServiceSet services);

struct PublishPlanInput {
  std::vector<std::string> names;  // the FQDN, then publish.names; duplicates are ignored
  ServiceSet services = Bit(Service::kSmtp);  // [publish] services
  std::string publish_dir;                    // for the paths in the sni-maps
  // The thumbprint of what `name` selects for `service`, nullopt when nothing is eligible.
  std::function<std::optional<std::string>(const std::string& name, Service service)> select;
  // Whether the file at a path relative to publish.dir is there now.
  std::function<bool(const std::string& path)> exists;
  // While the internal transport certificate awaits its replacement, a top-level file whose
  // name selects nothing stays as it is.
  bool replacement_pending = false;
};

struct PlannedFile {
  enum class Action {
    kWrite,   // write the bundle of `thumbprint`
    kKeep,    // leave the file as it is (its name has no eligible certificate)
    kRemove,  // remove the file (a top-level name with no eligible certificate)
  };
  Action action = Action::kWrite;
  std::string thumbprint;  // kWrite only
};

// A (name, service) with no eligible certificate.
struct LackingName {
  std::string name;
  Service service = Service::kSmtp;
  std::string path;   // its file, relative to publish.dir
  bool kept = false;  // its previous file stays (false: it has none, or it is removed)
  bool operator==(const LackingName&) const = default;
};

struct PublishPlan {
  // `<name>.pem` of every published name and service, by path relative to publish.dir.
  std::map<std::string, PlannedFile> files;
  // "sni-map", "imap/sni-map", ... -> "<name> <absolute path of its file>\n" for each name
  // that has a file (written or kept), in the order of `names`. Written even when empty, so
  // that `postmap -F` always finds it.
  std::map<std::string, std::string> sni_maps;
  std::vector<LackingName> lacking;
};

PublishPlan PlanPublishing(const PublishPlanInput& input);

// The lacking names of `now` that `before` did not have: each is alerted once, when it starts
// lacking (or its file starts or stops being kept), not on every evaluation.
std::vector<LackingName> NewlyLacking(const std::vector<LackingName>& before,
                                      const std::vector<LackingName>& now);

}  // namespace transportcertd
