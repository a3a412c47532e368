// log_file: appends, and rotation by size into NAME.1 ... NAME.(K-1).
#include "engine/log_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class log_file_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("berth-log-test-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(log_file_test, appends_to_an_existing_file) {
    auto path = dir_ / "a.log";
    std::ofstream(path) << "old\n";
    auto log = berth::log_file::open(path, 0, 3);
    ASSERT_TRUE(log) << log.error().message();
    EXPECT_EQ(log->size(), 4u);
    ASSERT_TRUE(log->append(std::string_view("new\n")));
    EXPECT_EQ(slurp(path), "old\nnew\n");
}

TEST_F(log_file_test, rotates_by_size_and_keeps_max_files) {
    auto path = dir_ / "r.log";
    auto log = berth::log_file::open(path, 10, 3);
    ASSERT_TRUE(log) << log.error().message();
    for (char c : std::string("abcd")) {
        std::string chunk(8, c);
        ASSERT_TRUE(log->append(chunk));
    }
    EXPECT_EQ(slurp(path), "dddddddd");
    EXPECT_EQ(slurp(dir_ / "r.log.1"), "cccccccc");
    EXPECT_EQ(slurp(dir_ / "r.log.2"), "bbbbbbbb");
    EXPECT_FALSE(fs::exists(dir_ / "r.log.3")); // "aaaaaaaa" fell off
}

TEST_F(log_file_test, one_file_truncates_in_place) {
    auto path = dir_ / "t.log";
    auto log = berth::log_file::open(path, 10, 1);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(std::string(8, 'x')));
    ASSERT_TRUE(log->append(std::string(8, 'y')));
    EXPECT_EQ(slurp(path), std::string(8, 'y'));
    EXPECT_FALSE(fs::exists(dir_ / "t.log.1"));
}

TEST_F(log_file_test, a_chunk_larger_than_the_limit_is_still_written_whole) {
    auto log = berth::log_file::open(dir_ / "big.log", 4, 2);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(std::string(16, 'z')));
    EXPECT_EQ(slurp(dir_ / "big.log"), std::string(16, 'z'));
}

TEST_F(log_file_test, the_file_is_created_by_the_first_append) {
    auto path = dir_ / "quiet.log";
    auto log = berth::log_file::open(path, 0, 1);
    ASSERT_TRUE(log) << log.error().message();
    EXPECT_EQ(log->size(), 0u);
    EXPECT_FALSE(fs::exists(path)); // a replica that never writes costs no file
    ASSERT_TRUE(log->append(std::string_view("first\n")));
    EXPECT_EQ(slurp(path), "first\n");
}

TEST_F(log_file_test, a_directory_in_the_files_place_is_a_clear_error) {
    fs::create_directories(dir_ / "d.log");
    auto log = berth::log_file::open(dir_ / "d.log", 0, 1);
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().message(),
              "log '" + (dir_ / "d.log").string() + "': open: Is a directory");
}

TEST_F(log_file_test, an_unwritable_place_is_a_clear_error) {
    auto log = berth::log_file::open(dir_ / "missing" / "x.log", 0, 1);
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().message(), "log '" + (dir_ / "missing" / "x.log").string() +
                                         "': open: No such file or directory");
}

} // namespace
