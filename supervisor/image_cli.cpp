// The storage commands (image import/ls/rm, volume ls/rm) and the config glue.
#include "supervisor/image_cli.hpp"

#include "engine/image_store.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

namespace berth {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

struct storage_args {
    std::vector<std::string> operands;
    std::string root = default_storage_root;
    std::string name;
    std::string ref;
    bool allow_devices = false;
};

int usage(const std::string& command, const std::string& message) {
    std::cerr << "berth: " << command << ": " << message << "\n" << storage_help_text();
    return exit_usage;
}

int failed(const std::string& command, const error& e) {
    std::cerr << "berth: " << command << ": " << e.message() << "\n";
    return exit_failure;
}

// Parses the words after the subcommand; `allowed` lists the options it takes.
std::optional<storage_args> parse(const std::vector<std::string>& words, std::size_t first,
                                  const std::vector<std::string>& allowed, std::string& problem) {
    storage_args out;
    for (std::size_t i = first; i < words.size(); ++i) {
        const std::string& w = words[i];
        bool known = std::find(allowed.begin(), allowed.end(), w) != allowed.end();
        if (w.size() > 1 && w[0] == '-' && !known) {
            problem = "unknown option '" + w + "'";
            return std::nullopt;
        }
        if (w == "--allow-devices") {
            out.allow_devices = true;
            continue;
        }
        if (known) {
            if (i + 1 >= words.size()) {
                problem = w + " needs a value";
                return std::nullopt;
            }
            const std::string& value = words[++i];
            if (w == "--root") {
                out.root = value;
            } else if (w == "--name") {
                out.name = value;
            } else if (w == "--ref") {
                out.ref = value;
            }
            continue;
        }
        out.operands.push_back(w);
    }
    return out;
}

// Decimal units, as `docker images` prints them.
std::string human_size(std::uint64_t bytes) {
    static const char* const units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1000 && unit + 1 < std::size(units)) {
        value /= 1000;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

// "2024-01-02T03:04:05.123Z" -> "2024-01-02 03:04".
std::string short_time(const std::string& rfc3339) {
    if (rfc3339.size() < 16) {
        return rfc3339.empty() ? "-" : rfc3339;
    }
    return rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 5);
}

// Rows printed in columns two spaces apart.
std::string table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t c = 0; c < row.size(); ++c) {
            widths[c] = std::max(widths[c], row[c].size());
        }
    }
    std::ostringstream out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            line += row[c];
            if (c + 1 < row.size()) {
                line += std::string(widths[c] - row[c].size() + 2, ' ');
            }
        }
        out << line << "\n";
    }
    return out.str();
}

int image_import(const std::vector<std::string>& args) {
    std::string problem;
    auto a = parse(args, 1, {"--root", "--name", "--ref", "--allow-devices"}, problem);
    if (!a || a->operands.size() != 1) {
        return usage("image import", a ? "needs exactly one PATH" : problem);
    }
    image_store store(a->root);
    import_options opts;
    opts.name = a->name;
    opts.ref = a->ref;
    opts.allow_devices = a->allow_devices;
    auto image = store.import(a->operands[0], opts);
    if (!image) {
        return failed("image import", image.error());
    }
    std::cout << "imported " << image->name << ": " << image->layer_digests.size() << " layers, "
              << human_size(image->size) << "\n";
    return exit_ok;
}

int image_ls(const std::vector<std::string>& args) {
    std::string problem;
    auto a = parse(args, 1, {"--root"}, problem);
    if (!a || !a->operands.empty()) {
        return usage("image ls", a ? "takes no operand" : problem);
    }
    auto images = image_store(a->root).list();
    if (!images) {
        return failed("image ls", images.error());
    }
    std::vector<std::vector<std::string>> rows{{"NAME", "LAYERS", "SIZE", "CREATED"}};
    for (const auto& i : *images) {
        rows.push_back({i.name, std::to_string(i.layer_digests.size()), human_size(i.size),
                        short_time(i.created.empty() ? i.imported : i.created)});
    }
    std::cout << table(rows);
    return exit_ok;
}

int image_rm(const std::vector<std::string>& args) {
    std::string problem;
    auto a = parse(args, 1, {"--root"}, problem);
    if (!a || a->operands.empty()) {
        return usage("image rm", a ? "needs the NAME of an image" : problem);
    }
    image_store store(a->root);
    int code = exit_ok;
    for (const auto& name : a->operands) {
        if (auto st = store.remove(name); !st) {
            code = failed("image rm", st.error());
        } else {
            std::cout << "removed " << name << "\n";
        }
    }
    return code;
}

int image_gc(const std::vector<std::string>& args) {
    std::string problem;
    auto a = parse(args, 1, {"--root"}, problem);
    if (!a || !a->operands.empty()) {
        return usage("image gc", a ? "takes no operand" : problem);
    }
    auto removed = image_store(a->root).collect_garbage();
    if (!removed) {
        return failed("image gc", removed.error());
    }
    std::cout << "removed " << *removed << " unreferenced layer" << (*removed == 1 ? "" : "s")
              << "\n";
    return exit_ok;
}

int volume_ls(const std::vector<std::string>& args) {
    std::string problem;
    auto a = parse(args, 1, {"--root"}, problem);
    if (!a || !a->operands.empty()) {
        return usage("volume ls", a ? "takes no operand" : problem);
    }
    volume_store::settings s;
    s.root = a->root + "/volumes";
    auto volumes = volume_store(s).list();
    if (!volumes) {
        return failed("volume ls", volumes.error());
    }
    std::vector<std::vector<std::string>> rows{{"NAME", "SIZE", "IN USE", "PATH"}};
    for (const auto& v : *volumes) {
        rows.push_back({v.name, human_size(v.size), v.in_use ? "yes" : "no", v.path});
    }
    std::cout << table(rows);
    return exit_ok;
}

int volume_rm(const std::vector<std::string>& args) {
    std::string problem;
    auto a = parse(args, 1, {"--root"}, problem);
    if (!a || a->operands.empty()) {
        return usage("volume rm", a ? "needs the NAME of a volume" : problem);
    }
    volume_store::settings s;
    s.root = a->root + "/volumes";
    volume_store store(s);
    int code = exit_ok;
    for (const auto& name : a->operands) {
        if (auto st = store.remove(name); !st) {
            code = failed("volume rm", st.error());
        } else {
            std::cout << "removed " << name << "\n";
        }
    }
    return code;
}

} // namespace

std::string storage_help_text() {
    return "usage:\n"
           "  berth image import PATH [--name NAME] [--ref REF] [--allow-devices] [--root DIR]\n"
           "  berth image ls [--root DIR]\n"
           "  berth image rm NAME... [--root DIR]\n"
           "  berth image gc [--root DIR]   remove layers no image lists\n"
           "  berth volume ls [--root DIR]\n"
           "  berth volume rm NAME... [--root DIR]\n"
           "PATH: a `docker save` archive or an OCI image layout, a directory or a tar file\n"
           "(gzip, zstd or plain). DIR: the storage root (default /var/lib/berth).\n";
}

int image_main(const std::vector<std::string>& args) noexcept {
    try {
        std::string sub = args.empty() ? "" : args[0];
        if (sub == "import") {
            return image_import(args);
        }
        if (sub == "ls" || sub == "list") {
            return image_ls(args);
        }
        if (sub == "rm" || sub == "remove") {
            return image_rm(args);
        }
        if (sub == "gc") {
            return image_gc(args);
        }
        if (sub == "-h" || sub == "--help") {
            std::cout << storage_help_text();
            return exit_ok;
        }
        return usage("image",
                     sub.empty() ? "needs a subcommand" : "unknown subcommand '" + sub + "'");
    } catch (const std::exception& e) {
        std::cerr << "berth: image: " << e.what() << "\n";
        return exit_failure;
    }
}

int volume_main(const std::vector<std::string>& args) noexcept {
    try {
        std::string sub = args.empty() ? "" : args[0];
        if (sub == "ls" || sub == "list") {
            return volume_ls(args);
        }
        if (sub == "rm" || sub == "remove") {
            return volume_rm(args);
        }
        if (sub == "-h" || sub == "--help") {
            std::cout << storage_help_text();
            return exit_ok;
        }
        return usage("volume",
                     sub.empty() ? "needs a subcommand" : "unknown subcommand '" + sub + "'");
    } catch (const std::exception& e) {
        std::cerr << "berth: volume: " << e.what() << "\n";
        return exit_failure;
    }
}

std::vector<volume_request> volume_requests(const std::vector<config::volume>& volumes) {
    std::vector<volume_request> out;
    for (const auto& v : volumes) {
        volume_request r;
        switch (v.type) {
        case config::volume::kind::named:
            r.type = volume_request::kind::named;
            break;
        case config::volume::kind::bind:
            r.type = volume_request::kind::bind;
            break;
        case config::volume::kind::anonymous:
            r.type = volume_request::kind::anonymous;
            break;
        }
        r.source = v.source;
        r.target = v.target.string();
        r.read_only = v.read_only;
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<std::string> command_for(const std::vector<std::string>& service_command,
                                     const image_config& image) {
    return service_command.empty() ? image.command() : service_command;
}

std::map<std::string, std::string>
environment_for(const std::map<std::string, std::string>& service_env, const image_config& image) {
    std::map<std::string, std::string> env;
    for (const auto& entry : image.env) {
        auto equals = entry.find('=');
        if (equals != std::string::npos && equals > 0) {
            env[entry.substr(0, equals)] = entry.substr(equals + 1);
        }
    }
    for (const auto& [key, value] : service_env) {
        env[key] = value;
    }
    return env;
}

} // namespace berth
