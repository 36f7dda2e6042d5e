# libFuzzer targets, one per parser of untrusted input (tests/fuzz/*.c).
# Included from the top CMakeLists.txt when -DTS_FUZZ=ON, which already
# instruments every compile (-fsanitize=fuzzer-no-link,address,undefined);
# each target adds libFuzzer's main.  Clang only.  tools/fuzz.sh builds
# and runs them; tests/unit.cmake replays their corpus without libFuzzer.

if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "TS_FUZZ needs clang (libFuzzer): "
                      "CC=clang cmake -DTS_FUZZ=ON ...")
endif()

# clang's -Wformat=2 also flags a vsnprintf wrapper that lacks a format
# attribute (fail() in store/intake.c, store/keyfile.c, tools/ticketctl.c),
# which gcc accepts: off in this build only, until they get
# __attribute__((format(printf, ...))).
foreach(lib tsstore tsfs ticketfs ticketctl)
  target_compile_options(${lib} PRIVATE -Wno-format-nonliteral)
endforeach()

set(TS_FUZZ_TARGETS record intake whitelist policy)

foreach(t ${TS_FUZZ_TARGETS})
  add_executable(fuzz_${t} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${t}.c)
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  if(t STREQUAL "whitelist" OR t STREQUAL "policy")
    target_link_libraries(fuzz_${t} PRIVATE tsfs tsstore)
  else()
    target_link_libraries(fuzz_${t} PRIVATE tsstore)
  endif()
endforeach()
