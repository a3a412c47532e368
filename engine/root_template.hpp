// Root templates (root_switch = "template", the default; docs/architecture.md, "Root switch").
//
// A root template is a mount namespace that holds nothing but an empty, read-only tmpfs as
// its "/", with an image's lower layers and the shared /dev tree bound read-only at their own
// paths and an empty directory at the scratch path. berth-shim enters it before it unshares
// (shim/protocol.h, root_switch=template), so each container's mount namespace starts as a
// copy of these few mounts rather than of the supervisor's whole table; the shim then moves
// the container's overlay root onto that "/" and chroots. There is no pivot_root, which walks
// every task on the system, and no detach of the host's tree, which waits for an RCU grace
// period; yet nothing of the host's tree lies under the container's root, so the classic
// escapes lead to the template, not to the host.
#pragma once

#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <map>
#include <string>
#include <vector>

namespace berth {

struct root_template_paths {
    std::string lower;   // the shim's lower=: one absolute directory, or several joined by ':'
    std::string dev;     // the shared /dev tree (layer_store::dev_template); empty: none
    std::string scratch; // the directory the shims mount their scratch tmpfs on
};

// Builds a template: a short-lived child (clone3 with CLONE_VM | CLONE_VFORK | CLONE_FILES)
// unshares its mount namespace, mounts the tmpfs over `scratch` (only in that namespace),
// makes the paths in it, binds the lower and dev directories there read-only, remounts the
// tmpfs read-only, opens its namespace (the fd lands in the shared fd table), pivots into the
// tmpfs and detaches the rest, and exits. The namespace lives as long as the returned fd.
// Each path must be absolute, free of ':' and ',', and not below `scratch`. Errors name the
// failing step.
result<unique_fd> build_root_template(const root_template_paths& paths);

// The templates of the mounted images, one per lower, shared by the services on it.
class root_templates {
public:
    // The namespace fd for these paths, built on the first acquire of their lower.
    result<int> acquire(const root_template_paths& paths);

    // Drops one acquire of that lower; the last one closes the namespace.
    void release(const std::string& lower);

    std::size_t size() const noexcept { return by_lower_.size(); }

private:
    struct entry {
        unique_fd ns;
        int users = 0;
    };
    std::map<std::string, entry> by_lower_;
};

} // namespace berth
