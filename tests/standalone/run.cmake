# A user's copy of an example folder, as the README's "Start your own tagger" tells them to make:
# deepjet installed into a temporary prefix, the example folder copied outside the repository,
# configured against the installed package only (find_package), built, and run.
#   cmake -DBUILD=<deepjet build dir> -DEXAMPLE=<example folder> -DWORK=<scratch dir>
#         -DRUN="program|arg|arg..." -P run.cmake        (@WORK@ in an argument is the scratch dir)
# The compile uses -O2, the examples' own flags otherwise (Release adds -O3; -O1 would save compile
# time but leaves xsimd's kernels uninlined and the quick-start's tiny run far slower).
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "failed (${status}): ${ARGN}\n${err}")
  endif()
endfunction()
get_filename_component(name ${EXAMPLE} NAME)
run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
file(COPY ${EXAMPLE} DESTINATION ${WORK})  # -> ${WORK}/${name}, nothing else of the repository
run(${CMAKE_COMMAND} -S ${WORK}/${name} -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix
    -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O2 -DNDEBUG")
run(${CMAKE_COMMAND} --build ${WORK}/build)
string(REPLACE "|" ";" command "${RUN}")
string(REPLACE "@WORK@" "${WORK}" command "${command}")
list(POP_FRONT command program)
run(${WORK}/build/${program} ${command})
file(REMOVE_RECURSE ${WORK})
