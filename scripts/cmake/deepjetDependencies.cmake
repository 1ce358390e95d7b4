# Finds everything the deepjet headers need and stops with the Debian package to install when
# something is missing. Used by the project's own CMakeLists.txt and, after `cmake --install`,
# by deepjetConfig.cmake, so a consumer's find_package(deepjet) resolves the same libraries.
include_guard(GLOBAL)

macro(_deepjet_require found what debian_package)
  if(NOT ${found})
    message(FATAL_ERROR
      "deepjet needs ${what}, which was not found.\n"
      "On Debian/Ubuntu install it with:  apt-get install ${debian_package}\n"
      "(or run scripts/install-dependencies.sh, which installs every package deepjet uses)")
  endif()
endmacro()

find_package(Eigen3 3.3 QUIET NO_MODULE)
_deepjet_require(Eigen3_FOUND "Eigen3 (linear algebra)" "libeigen3-dev")
find_package(xtl QUIET)
_deepjet_require(xtl_FOUND "xtl (support library of xtensor)" "xtl-dev")
find_package(xsimd QUIET)
_deepjet_require(xsimd_FOUND "xsimd (SIMD kernels)" "libxsimd-dev")
find_package(xtensor QUIET)
_deepjet_require(xtensor_FOUND "xtensor (n-dimensional arrays)" "xtensor-dev")
# FindHDF5 probes with a C compiler; a C++-only consumer project gets C enabled here.
get_property(_deepjet_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if(NOT "C" IN_LIST _deepjet_languages)
  enable_language(C)
endif()
find_package(HDF5 QUIET COMPONENTS C)
_deepjet_require(HDF5_FOUND "HDF5 (training and model files)" "libhdf5-dev")
find_package(ZLIB QUIET)
_deepjet_require(ZLIB_FOUND "zlib (ROOT basket decompression)" "zlib1g-dev")
find_package(LibLZMA QUIET)
_deepjet_require(LIBLZMA_FOUND "liblzma (ROOT basket decompression)" "liblzma-dev")
find_package(Threads REQUIRED)

# lz4 and zstd ship pkg-config files on Debian but no CMake modules we can rely on everywhere.
find_path(DEEPJET_LZ4_INCLUDE_DIR lz4.h)
find_library(DEEPJET_LZ4_LIBRARY NAMES lz4)
set(_deepjet_lz4_found FALSE)
if(DEEPJET_LZ4_INCLUDE_DIR AND DEEPJET_LZ4_LIBRARY)
  set(_deepjet_lz4_found TRUE)
endif()
_deepjet_require(_deepjet_lz4_found "lz4 (ROOT basket decompression)" "liblz4-dev")
find_path(DEEPJET_ZSTD_INCLUDE_DIR zstd.h)
find_library(DEEPJET_ZSTD_LIBRARY NAMES zstd)
set(_deepjet_zstd_found FALSE)
if(DEEPJET_ZSTD_INCLUDE_DIR AND DEEPJET_ZSTD_LIBRARY)
  set(_deepjet_zstd_found TRUE)
endif()
_deepjet_require(_deepjet_zstd_found "zstd (ROOT basket decompression)" "libzstd-dev")

# One list of link items for the INTERFACE target; HDF5's FindHDF5 gives variables, not always a
# target, so both are collected here.
set(DEEPJET_DEPENDENCY_INCLUDE_DIRS
    ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS} ${DEEPJET_LZ4_INCLUDE_DIR} ${DEEPJET_ZSTD_INCLUDE_DIR})
set(DEEPJET_DEPENDENCY_LIBRARIES
    Eigen3::Eigen xtensor xsimd ${HDF5_C_LIBRARIES} ${HDF5_LIBRARIES}
    ZLIB::ZLIB LibLZMA::LibLZMA ${DEEPJET_LZ4_LIBRARY} ${DEEPJET_ZSTD_LIBRARY} Threads::Threads)
list(REMOVE_DUPLICATES DEEPJET_DEPENDENCY_INCLUDE_DIRS)
list(REMOVE_DUPLICATES DEEPJET_DEPENDENCY_LIBRARIES)
