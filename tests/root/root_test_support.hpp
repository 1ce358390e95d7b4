// Helpers shared by the ROOT reader tests: paths of the shared files and EXPECTED.json.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace deepjet::root::testing {

inline std::string shared_root_file(const std::string& name) {
  return std::string(DEEPJET_SHARED_DIR) + "/data/root/" + name;
}

inline const nlohmann::json& expected_values() {
  static const nlohmann::json expected = [] {
    std::ifstream in(shared_root_file("EXPECTED.json"));
    return nlohmann::json::parse(in);
  }();
  return expected;
}

inline std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace deepjet::root::testing
