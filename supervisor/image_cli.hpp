// `berth image ...` and `berth volume ...`: the storage commands; and the supervisor's glue
// from the fleet's config to the image and volume stores. See docs/images.md, docs/volumes.md.
#pragma once

#include "config/fleet.hpp"
#include "engine/image_archive.hpp"
#include "engine/volume_store.hpp"

#include <map>
#include <string>
#include <vector>

namespace berth {

// `berth image SUBCOMMAND ...`; args are the words after "image":
//   import PATH [--name NAME] [--ref REF] [--allow-devices] [--root DIR]
//   ls [--root DIR]
//   rm NAME [--root DIR]
// DIR is the storage root (default /var/lib/berth). Prints results on stdout and errors on
// stderr ("berth: image import: image archive 'x.tar': ..."). Returns 0 on success, 1 when the
// command failed, 2 for a bad command line. Never throws.
int image_main(const std::vector<std::string>& args) noexcept;

// `berth volume SUBCOMMAND ...`; args are the words after "volume":
//   ls [--root DIR]
//   rm NAME [--root DIR]
// Named volumes live in DIR/volumes (default /var/lib/berth/volumes). Exit codes as above.
int volume_main(const std::vector<std::string>& args) noexcept;

// The usage text of both commands, for `berth --help`.
std::string storage_help_text();

// A service's volumes as the volume store takes them; `volumes` is what
// config::expand_replica gives a replica (placeholders already substituted).
std::vector<volume_request> volume_requests(const std::vector<config::volume>& volumes);

// What a service on an imported image runs: the service's own command when it has one (it
// replaces Entrypoint and Cmd entirely: berth has no ENTRYPOINT/CMD split), else the image's
// Entrypoint followed by its Cmd; empty when neither says anything.
std::vector<std::string> command_for(const std::vector<std::string>& service_command,
                                     const image_config& image);

// The environment of a service on an imported image: the image's Env, overridden key by key
// by the service's own (including PATH).
std::map<std::string, std::string>
environment_for(const std::map<std::string, std::string>& service_env, const image_config& image);

} // namespace berth
