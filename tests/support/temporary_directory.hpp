// A GoogleTest fixture with a fresh directory of its own for each test: created empty before the
// test ("<temp>/<prefix>-<pid>-<test name>"), removed with everything in it afterwards.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace deepjet::test {

class TemporaryDirectoryTest : public ::testing::Test {
 protected:
  explicit TemporaryDirectoryTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 (prefix_ + "-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  /// A path inside the directory.
  std::filesystem::path file(const std::string& name) const { return directory_ / name; }

  /// The names in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(directory_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::filesystem::path directory_;

 private:
  std::string prefix_;
};

}  // namespace deepjet::test
