# Unit suites (Check), one per module.  Included from tests/CMakeLists.txt,
# so CMAKE_CURRENT_SOURCE_DIR is tests/.  Each suite is its own program and
# its own ctest test, unit_<module>, with the label "unit".

set(TS_STORE_SUITES seal record intake store audit)
set(TS_FS_SUITES access cache faults inode policy index)

foreach(s ${TS_STORE_SUITES} ${TS_FS_SUITES})
  add_executable(test_${s} ${CMAKE_CURRENT_SOURCE_DIR}/test_${s}.c)
  if(s IN_LIST TS_FS_SUITES)
    target_link_libraries(test_${s} PRIVATE tsfs tsstore PkgConfig::CHECK)
  else()
    target_link_libraries(test_${s} PRIVATE tsstore PkgConfig::CHECK)
  endif()
  add_test(NAME unit_${s} COMMAND test_${s})
  set_tests_properties(unit_${s} PROPERTIES TIMEOUT 300 LABELS unit)
endforeach()

# The record suite compares against and decodes checked-in golden records.
target_compile_definitions(test_record PRIVATE
  TS_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
