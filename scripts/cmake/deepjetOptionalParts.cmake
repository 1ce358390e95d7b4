# deepjet's optional parts, each a target of its own that only the translation units using it link:
#   deepjet::onnx   ONNX import and export (deepjet/interchange/onnx.hpp): Debian's libonnx-dev,
#                   libprotobuf-dev
#   deepjet::lwtnn  lwtnn's JSON networks (deepjet/interchange/lwtnn.hpp): nlohmann-json3-dev
#   deepjet::keras  Keras 2 HDF5 model files (deepjet/interchange/keras.hpp): nlohmann-json3-dev for
#                   the architecture (HDF5 is a core dependency)
#   deepjet::mpi    training, conversion and prediction as the ranks of an MPI job
#                   (deepjet/parallel/mpi.hpp): libopenmpi-dev (MPI's C API)
# A part whose dependencies are missing is simply not defined (DEEPJET_HAS_<PART> is OFF) and a
# status line says what to install. Used by the project's CMakeLists.txt and, after
# `cmake --install`, by deepjetConfig.cmake, so an installed deepjet offers the same parts.
# Expects the target deepjet::deepjet to exist.
include_guard(DIRECTORY)

# In the project's own build the targets must be seen from every directory (and by a parent project
# that takes deepjet with add_subdirectory); in a consumer's find_package, its directory suffices.
set(_deepjet_part_scope "")
if(DEEPJET_PARTS_GLOBAL)
  set(_deepjet_part_scope GLOBAL)
endif()

find_package(Protobuf QUIET)
if(Protobuf_FOUND)
  find_package(ONNX QUIET)
endif()
set(DEEPJET_HAS_ONNX OFF)
if(Protobuf_FOUND AND ONNX_FOUND)
  set(DEEPJET_HAS_ONNX ON)
  if(NOT TARGET deepjet::onnx)
    add_library(deepjet::onnx INTERFACE IMPORTED ${_deepjet_part_scope})
    target_link_libraries(deepjet::onnx INTERFACE deepjet::deepjet onnx onnx_proto protobuf::libprotobuf)
  endif()
else()
  message(STATUS "deepjet: ONNX import/export (deepjet::onnx) not available: install libonnx-dev and libprotobuf-dev")
endif()

find_package(nlohmann_json 3 QUIET)
set(DEEPJET_HAS_JSON OFF)
if(nlohmann_json_FOUND)
  set(DEEPJET_HAS_JSON ON)
  if(NOT TARGET deepjet::lwtnn)
    add_library(deepjet::lwtnn INTERFACE IMPORTED ${_deepjet_part_scope})
    target_link_libraries(deepjet::lwtnn INTERFACE deepjet::deepjet nlohmann_json::nlohmann_json)
  endif()
  if(NOT TARGET deepjet::keras)
    add_library(deepjet::keras INTERFACE IMPORTED ${_deepjet_part_scope})
    target_link_libraries(deepjet::keras INTERFACE deepjet::deepjet nlohmann_json::nlohmann_json)
  endif()
else()
  message(STATUS "deepjet: lwtnn and Keras import (deepjet::lwtnn, deepjet::keras) not available: install nlohmann-json3-dev")
endif()

set(MPI_CXX_SKIP_MPICXX ON)  # MPI's C API from C++, not the deprecated C++ bindings
find_package(MPI QUIET COMPONENTS CXX)
set(DEEPJET_HAS_MPI OFF)
if(MPI_CXX_FOUND)
  set(DEEPJET_HAS_MPI ON)
  if(NOT TARGET deepjet::mpi)
    add_library(deepjet::mpi INTERFACE IMPORTED ${_deepjet_part_scope})
    target_link_libraries(deepjet::mpi INTERFACE deepjet::deepjet MPI::MPI_CXX)
  endif()
else()
  message(STATUS "deepjet: MPI (deepjet::mpi) not available: install libopenmpi-dev and openmpi-bin")
endif()
