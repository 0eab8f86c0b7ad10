# Checks the public headers (include/herdless/*.h, what `cmake --install` installs): each one
# compiles alone, with include/ as the only project include directory and the project's
# warnings as errors. A public header that includes an internal one (src/include/herdless/...,
# not on the path here), or that needs another header included before it, fails.
# Run by ctest (public_headers_self_contained, see the end of CMakeLists.txt):
#   cmake -DCXX=<compiler> -DINCLUDE_DIR=<dir> -DWORK_DIR=<dir> [-DEXTRA_FLAGS=a|b] -P check_public_headers.cmake
if(NOT CXX OR NOT INCLUDE_DIR OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DCXX=... -DINCLUDE_DIR=... -DWORK_DIR=... -P check_public_headers.cmake")
endif()
string(REPLACE "|" ";" extra "${EXTRA_FLAGS}")
file(GLOB headers RELATIVE ${INCLUDE_DIR} ${INCLUDE_DIR}/herdless/*.h)
list(LENGTH headers count)
if(count EQUAL 0)
  message(FATAL_ERROR "no public headers under ${INCLUDE_DIR}/herdless")
endif()
file(MAKE_DIRECTORY ${WORK_DIR})
set(failed "")
foreach(header ${headers})
  string(MAKE_C_IDENTIFIER ${header} name)
  set(source ${WORK_DIR}/${name}.cc)
  file(WRITE ${source} "#include \"${header}\"\n")
  execute_process(COMMAND ${CXX} -std=c++23 -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                          -Wsign-conversion -Wold-style-cast -Wnon-virtual-dtor -Werror ${extra}
                          -I ${INCLUDE_DIR} ${source}
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(result EQUAL 0)
    message(STATUS "ok: ${header}")
  else()
    message("FAILED: ${header} does not compile alone with only ${INCLUDE_DIR} on the path:\n${out}")
    list(APPEND failed ${header})
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "public headers that do not stand alone: ${failed}")
endif()
message(STATUS "all ${count} public headers compile alone")
