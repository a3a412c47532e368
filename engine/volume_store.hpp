// Volumes: named ones under a root that outlives containers, anonymous ones private to a
// replica, host binds checked; each becomes a volume_bind for the shim. See docs/volumes.md.
#pragma once

#include "engine/result.hpp"
#include "engine/shim_spec.hpp"
#include "engine/unique_fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

inline constexpr const char* default_volume_root = "/var/lib/berth/volumes";

struct volume_request {
    enum class kind { named, bind, anonymous };

    kind type = kind::anonymous;
    // named: the volume's name (placeholders already expanded); bind: the host path;
    // anonymous: empty.
    std::string source;
    std::string target; // absolute, inside the container
    bool read_only = false;
};

// A shared lock on a named volume's directory: while one is held, volume_store::remove of it
// fails with EBUSY, from any process.
class volume_lease {
public:
    volume_lease() = default;
    bool held() const noexcept { return fd_.valid(); }

private:
    friend class volume_store;
    explicit volume_lease(unique_fd fd) : fd_(std::move(fd)) {}
    unique_fd fd_;
};

struct prepared_volumes {
    std::vector<volume_bind> binds;   // for shim_spec::volumes: sorted, parents first
    std::vector<volume_lease> leases; // one per named volume: hold while the container runs
};

struct volume_info {
    std::string name;
    std::string path;
    std::uint64_t size = 0; // bytes of regular files
    bool in_use = false;    // a lease is held on it (by this or another process)
};

class volume_store {
public:
    struct settings {
        std::string root = default_volume_root; // named volumes: <root>/<name>
        // Anonymous volumes: <anonymous_root>/<service>/<replica>/<target, escaped>; berth
        // passes <state_dir>/volumes. Empty: anonymous volumes are refused.
        std::string anonymous_root;
        // No bind source may lie inside one of these, nor contain one: the image store's
        // root and the supervisor's state_dir.
        std::vector<std::string> protected_paths;
    };

    explicit volume_store(settings s);

    // Everything one container of replica ("web/0") needs: named volumes and anonymous ones
    // created when missing (mode 0755, owned by owner_uid:owner_gid, so a workload that runs
    // as that user can write them), host paths checked (they must exist, and may not reach
    // into the protected paths), targets checked (absolute, not "/", no "." or ".."
    // component, not under /proc, /sys or /dev, which the shim mounts over, no two alike).
    // Errors: "volume '/srv/www:/www': host path '/srv/www': No such file or directory".
    result<prepared_volumes> prepare(std::string_view replica,
                                     const std::vector<volume_request>& volumes, uid_t owner_uid,
                                     gid_t owner_gid) const;

    // Removes the replica's anonymous volumes; call when the replica itself goes away (scaled
    // down, berth stopped), not between restarts of its container, which keep them.
    status remove_anonymous(std::string_view replica) const;

    // Named volumes, sorted by name.
    result<std::vector<volume_info>> list() const;

    // Removes a named volume and its data. EBUSY when name is in in_use (the supervisor's own
    // knowledge) or a lease is held on it.
    status remove(std::string_view name,
                  const std::set<std::string, std::less<>>& in_use = {}) const;

    // <root>/<name>.
    std::string path_of(std::string_view name) const;

    // Why name is not a valid volume name (1..255 bytes of [A-Za-z0-9_.-], not starting with
    // '.'), or nullopt.
    static std::optional<std::string> check_name(std::string_view name);

private:
    result<volume_lease> take_named(const std::string& shown, const std::string& name, uid_t uid,
                                    gid_t gid) const;
    result<std::string> take_anonymous(const std::string& shown, std::string_view replica,
                                       const std::string& target, uid_t uid, gid_t gid) const;
    status check_bind_source(const std::string& shown, const std::string& source) const;

    settings settings_;
};

} // namespace berth
