// Helpers for the image tests: a minimal ustar writer (for archives no real tool would make:
// "../" names, writes through symlinks, device nodes), digests, and tree listings.
#pragma once

#include "engine/sha256.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace berth::test {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

inline int sh(const std::string& script) {
    return std::system(("bash -c '" + script + "'").c_str());
}

// Whether `name` is a program on PATH (umoci, skopeo, python3 for the image tests).
inline bool has_program(const std::string& name) {
    return sh("command -v " + name + " >/dev/null") == 0;
}

// One tar entry for tar_writer.
struct tar_entry {
    std::string name;
    char type = '0'; // '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo
    std::string data;
    std::string link;
    unsigned mode = 0644;
    unsigned uid = 0;
    unsigned gid = 0;
    unsigned major = 0;
    unsigned minor = 0;
};

inline tar_entry file_entry(std::string name, std::string data = "", unsigned mode = 0644) {
    tar_entry e;
    e.name = std::move(name);
    e.data = std::move(data);
    e.mode = mode;
    return e;
}

inline tar_entry dir_entry(std::string name, unsigned mode = 0755) {
    tar_entry e;
    e.name = std::move(name);
    e.type = '5';
    e.mode = mode;
    return e;
}

inline tar_entry symlink_entry(std::string name, std::string target) {
    tar_entry e;
    e.name = std::move(name);
    e.type = '2';
    e.link = std::move(target);
    e.mode = 0777;
    return e;
}

inline tar_entry hardlink_entry(std::string name, std::string target) {
    tar_entry e;
    e.name = std::move(name);
    e.type = '1';
    e.link = std::move(target);
    return e;
}

inline tar_entry node_entry(std::string name, char type, unsigned major, unsigned minor) {
    tar_entry e;
    e.name = std::move(name);
    e.type = type;
    e.major = major;
    e.minor = minor;
    return e;
}

// A ustar archive of the entries, with the two zero blocks at the end.
inline std::string ustar(const std::vector<tar_entry>& entries) {
    std::string out;
    // width - 1 octal digits, zero-padded, then NUL.
    auto octal = [](char* field, std::size_t width, unsigned long long value) {
        for (std::size_t i = width - 1; i-- > 0;) {
            field[i] = static_cast<char>('0' + (value & 7));
            value >>= 3;
        }
        field[width - 1] = '\0';
    };
    for (const auto& e : entries) {
        char h[512] = {};
        std::strncpy(h, e.name.c_str(), 100);
        octal(h + 100, 8, e.mode);
        octal(h + 108, 8, e.uid);
        octal(h + 116, 8, e.gid);
        octal(h + 124, 12, e.data.size());
        octal(h + 136, 12, 1700000000);
        std::memset(h + 148, ' ', 8);
        h[156] = e.type;
        std::strncpy(h + 157, e.link.c_str(), 100);
        std::memcpy(h + 257,
                    "ustar\0"
                    "00",
                    8);
        octal(h + 329, 8, e.major);
        octal(h + 337, 8, e.minor);
        unsigned sum = 0;
        for (unsigned char c : h) {
            sum += c;
        }
        octal(h + 148, 7, sum); // six digits, NUL, then the space already there

        out.append(h, 512);
        out += e.data;
        out.append((512 - e.data.size() % 512) % 512, '\0');
    }
    out.append(1024, '\0');
    return out;
}

// A `docker save` layout in dir: each layer tar under l<i>/layer.tar, the config named by its
// digest, manifest.json naming the image `tag`. Returns the config's digest (hex).
inline std::string write_docker_archive(const fs::path& dir, const std::vector<std::string>& layers,
                                        const std::string& tag,
                                        const std::string& config_extra = "") {
    fs::create_directories(dir);
    std::string ids;
    std::string paths;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        put(dir / ("l" + std::to_string(i)) / "layer.tar", layers[i]);
        ids += (i ? "," : "") + std::string("\"sha256:") + sha256::of(layers[i]) + "\"";
        paths += (i ? "," : "") + std::string("\"l") + std::to_string(i) + "/layer.tar\"";
    }
    std::string config = "{\"architecture\":\"amd64\",\"os\":\"linux\"," + config_extra +
                         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + ids + "]}}";
    std::string hex = sha256::of(config);
    put(dir / (hex + ".json"), config);
    put(dir / "manifest.json", "[{\"Config\":\"" + hex + ".json\",\"RepoTags\":[\"" + tag +
                                   "\"],\"Layers\":[" + paths + "]}]");
    return hex;
}

// "path -> kind mode uid:gid details" for every entry below root (root itself left out):
// regular files with their size, sha256 and mtime (to the second), symlinks with their target,
// devices with their numbers, and user.* xattrs.
inline std::map<std::string, std::string> listing(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        const auto& p = it->path();
        struct stat st {};
        ::lstat(p.c_str(), &st);
        std::ostringstream d;
        d << std::oct << (st.st_mode & 07777) << std::dec << " " << st.st_uid << ":" << st.st_gid;
        if (S_ISREG(st.st_mode)) {
            // Seconds, rounded as Go's archive/tar (umoci, skopeo) rounds them.
            d << " file " << st.st_size << " " << sha256::of(slurp(p)) << " "
              << st.st_mtim.tv_sec + (st.st_mtim.tv_nsec >= 500'000'000 ? 1 : 0);
        } else if (S_ISDIR(st.st_mode)) {
            d << " dir";
        } else if (S_ISLNK(st.st_mode)) {
            d << " link " << fs::read_symlink(p).string();
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            d << (S_ISCHR(st.st_mode) ? " char " : " block ") << major(st.st_rdev) << ":"
              << minor(st.st_rdev);
        } else if (S_ISFIFO(st.st_mode)) {
            d << " fifo";
        }
        char names[4096];
        ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
        for (ssize_t at = 0; at < n; at += static_cast<ssize_t>(std::strlen(names + at)) + 1) {
            std::string name = names + at;
            if (name.rfind("user.", 0) == 0) {
                char value[256];
                ssize_t v = ::lgetxattr(p.c_str(), name.c_str(), value, sizeof value);
                d << " " << name << "=" << std::string(value, v > 0 ? v : 0);
            }
        }
        out[p.lexically_relative(root).string()] = d.str();
    }
    return out;
}

// The entries where two listings differ, one line each ("" when they are equal).
inline std::string listing_diff(const std::map<std::string, std::string>& got,
                                const std::map<std::string, std::string>& want) {
    std::string out;
    for (const auto& [path, what] : want) {
        auto it = got.find(path);
        if (it == got.end()) {
            out += "missing " + path + ": " + what + "\n";
        } else if (it->second != what) {
            out += "differs " + path + ": got " + it->second + ", want " + what + "\n";
        }
    }
    for (const auto& [path, what] : got) {
        if (!want.contains(path)) {
            out += "extra " + path + ": " + what + "\n";
        }
    }
    return out;
}

// The xattrs of `path` that listing() leaves out (all but user.*: trusted.overlay.opaque on
// a layer's directories, security.capability, ...), values in hex, sorted by name.
inline std::string other_xattrs(const fs::path& path) {
    char names[65536];
    ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
    std::vector<std::string> other;
    for (ssize_t at = 0; at < n; at += static_cast<ssize_t>(std::strlen(names + at)) + 1) {
        if (std::string(names + at).rfind("user.", 0) != 0) {
            other.emplace_back(names + at);
        }
    }
    std::sort(other.begin(), other.end());
    std::string out;
    for (const auto& name : other) {
        unsigned char value[65536];
        ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
        out += " " + name + "=";
        for (ssize_t i = 0; i < v; ++i) {
            constexpr char digits[] = "0123456789abcdef";
            out += digits[value[i] >> 4];
            out += digits[value[i] & 15];
        }
    }
    return out;
}

// Every entry below root as listing() describes it (kind, mode, owner; size, sha256 and mtime
// of regular files; link targets, device numbers) plus all its other xattrs: to check that a
// failed import changed nothing, byte for byte. Empty when root does not exist. Compare two
// with listing_diff() for a readable difference.
inline std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::error_code ec;
    if (!fs::exists(root, ec)) {
        return {};
    }
    auto out = listing(root);
    for (auto& [path, what] : out) {
        what += other_xattrs(root / path);
    }
    return out;
}

} // namespace berth::test
