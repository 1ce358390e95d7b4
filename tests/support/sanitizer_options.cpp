// Built into every test executable that runs under a sanitizer (deepjet_add_test SANITIZE ...).
//
// LeakSanitizer: libhdf5 keeps library-wide state (its free lists, property-list classes, the
// identifier tables) until H5close, which HDF5's exit handler calls. deepjet asks HDF5 not to run
// that handler (io/hdf5/hdf5.hpp, skip_hdf5_exit_handler: after a failed write, a full disk, the
// handler crashes on the half-open file it still lists), so that state is still allocated when the
// process ends. It is allocated once per process, not per file or per call, so it cannot grow;
// the suppression names libhdf5 only, and leaks in deepjet's own code are still reported.
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5.so\n"; }

// UndefinedBehaviorSanitizer: a stack trace with every report (the tests also stop at the first).
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1"; }
