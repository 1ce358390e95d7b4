# The quick-start's train as 2 ranks x 1 thread (mpirun) and as 1 process x 2 threads, on the same
# data: the final weights' fingerprints must be equal.
string(REPLACE "|" ";" MPIEXEC_FLAGS "${MPIEXEC_FLAGS}")
set(size --files 2 --jets 1500 --test-jets 500 --epochs 2 --batch 250)
foreach(run one_x2 two_x1)
  file(REMOVE_RECURSE ${WORK}/${run}/training)
  execute_process(COMMAND ${QUICKSTART} generate --dir ${WORK}/${run} ${size} RESULT_VARIABLE r1)
  execute_process(COMMAND ${QUICKSTART} convert --dir ${WORK}/${run} ${size} RESULT_VARIABLE r2)
  if(NOT r1 EQUAL 0 OR NOT r2 EQUAL 0)
    message(FATAL_ERROR "generate or convert failed for ${run}")
  endif()
endforeach()
execute_process(COMMAND ${QUICKSTART} train --dir ${WORK}/one_x2 ${size} --threads 2
                RESULT_VARIABLE r OUTPUT_VARIABLE one_x2 ERROR_VARIABLE e)
message(STATUS "1 process x 2 threads -> ${r}\n${one_x2}${e}")
execute_process(COMMAND ${MPIEXEC} ${MPIEXEC_FLAGS} -n 2 ${QUICKSTART} train --dir ${WORK}/two_x1 ${size} --threads 1
                RESULT_VARIABLE r OUTPUT_VARIABLE two_x1 ERROR_VARIABLE e)
message(STATUS "2 ranks x 1 thread -> ${r}\n${two_x1}${e}")
string(REGEX MATCH "weights fingerprint [0-9a-f]+" a "${one_x2}")
string(REGEX MATCH "weights fingerprint [0-9a-f]+" b "${two_x1}")
if(a STREQUAL "" OR NOT a STREQUAL b)
  message(FATAL_ERROR "the weights differ: '${a}' and '${b}'")
endif()
message("quickstart under mpirun: ${b}, equal")
