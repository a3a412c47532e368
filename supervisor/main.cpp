// berth: the supervisor binary's entry point.
#include "supervisor/cli.hpp"

#include <string>
#include <vector>

int main(int argc, char** argv) {
    return berth::cli::main(std::vector<std::string>(argv, argv + argc));
}
