// deepjet/core/version.hpp: the library version, also written into every file deepjet produces.
#pragma once

#define DEEPJET_VERSION_MAJOR 0
#define DEEPJET_VERSION_MINOR 1
#define DEEPJET_VERSION_PATCH 0

namespace deepjet {
inline constexpr const char* version = "0.1.0";
}  // namespace deepjet
