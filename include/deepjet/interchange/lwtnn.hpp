// deepjet/interchange/lwtnn.hpp: lwtnn's JSON network files (see lwtnn/reader.hpp). Needs
// nlohmann-json (Debian's nlohmann-json3-dev): link the CMake target deepjet::lwtnn.
#pragma once

#include "deepjet/interchange/lwtnn/reader.hpp"
