# Unit suites (Check), one per module.  Included from tests/CMakeLists.txt,
# so CMAKE_CURRENT_SOURCE_DIR is tests/.  Each suite is its own program and
# its own ctest test, unit_<module>, with the label "unit".

set(TS_STORE_SUITES seal record intake store audit audit_spool tkey store_pg intake_pg audit_pg meta_pg)
list(APPEND TS_STORE_SUITES pg_changes rekey)
set(TS_FS_SUITES access cache faults fold heap inode policy index status watchdog)

foreach(s ${TS_STORE_SUITES} ${TS_FS_SUITES})
  add_executable(test_${s} ${CMAKE_CURRENT_SOURCE_DIR}/test_${s}.c)
  if(s IN_LIST TS_FS_SUITES)
    target_link_libraries(test_${s} PRIVATE tsfs tsstore PkgConfig::CHECK)
  else()
    target_link_libraries(test_${s} PRIVATE tsstore PkgConfig::CHECK)
  endif()
  add_test(NAME unit_${s} COMMAND test_${s})
  set_tests_properties(unit_${s} PROPERTIES TIMEOUT 300 LABELS unit)
  if(s MATCHES "pg")
    ts_needs_pg(unit_${s})
    target_include_directories(test_${s} PRIVATE ${CMAKE_BINARY_DIR}/gen)
  endif()
endforeach()

# glibc's malloc settings cannot be seen under a sanitizer's malloc.
set_tests_properties(unit_heap PROPERTIES SKIP_RETURN_CODE 77)

# Suites that apply the PostgreSQL schema include build/gen/pg_schema_sql.h.
foreach(s ${TS_STORE_SUITES})
  if(s MATCHES "pg")
    target_include_directories(test_${s} PRIVATE ${CMAKE_BINARY_DIR}/gen)
    add_dependencies(test_${s} tsgen)
  endif()
endforeach()

# The record suite compares against and decodes checked-in golden records.
target_compile_definitions(test_record PRIVATE
  TS_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")

# The fuzz targets (tests/fuzz/), replayed without libFuzzer so that any
# compiler runs them: fuzz_replay_<target> runs the target on its seed
# corpus and on every crash tools/fuzz.sh saved.  tools/fuzz.sh fuzzes.
set(TS_FUZZ_REPLAY record intake whitelist policy)
foreach(t ${TS_FUZZ_REPLAY})
  add_executable(fuzz_replay_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.c)
  if(t STREQUAL "whitelist" OR t STREQUAL "policy")
    target_link_libraries(fuzz_replay_${t} PRIVATE tsfs tsstore)
  else()
    target_link_libraries(fuzz_replay_${t} PRIVATE tsstore)
  endif()
  add_test(NAME fuzz_replay_${t} COMMAND fuzz_replay_${t}
           ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t}
           ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/regress/${t})
  set_tests_properties(fuzz_replay_${t} PROPERTIES TIMEOUT 300 LABELS unit)
endforeach()
# With no input at all (an empty directory) the replay fails, saying so.
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz-empty)
add_test(NAME fuzz_replay_none COMMAND sh -c
  "out=$(\"$0\" \"$1\" 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && case $out in *'no inputs'*) ;; *) exit 1 ;; esac"
  $<TARGET_FILE:fuzz_replay_record> ${CMAKE_CURRENT_BINARY_DIR}/fuzz-empty)
set_tests_properties(fuzz_replay_none PROPERTIES LABELS unit)
