# Hardening (docs/reliability.md): faults (a killed rank, a full disk, non-finite values), the bad
# inputs table, the fuzzers' regression inputs through the normal loaders.
foreach(case kill efbig tmpfs nonfinite)
  df_test(fault_${case} 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_faults.sh ${case} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
  set_tests_properties(fault_${case} PROPERTIES PROCESSORS 2 SKIP_RETURN_CODE 77)
endforeach()
set(DF_HARDENING_TESTS fault_efbig fault_tmpfs fault_nonfinite)
# what the fuzzers found: tests/fixtures/regress/HARNESS/* through that harness (tools/fuzz) and the
# normal loader, without libFuzzer
file(GLOB df_regress_dirs LIST_DIRECTORIES true ${DF_FIXTURES}/regress/fuzz_*)
foreach(dir ${df_regress_dirs})
  get_filename_component(h ${dir} NAME)
  df_test_exe(regress_${h} ${PROJECT_SOURCE_DIR}/tools/fuzz/${h}.c regress_main.c)
  target_include_directories(regress_${h} PRIVATE ${PROJECT_SOURCE_DIR}/tools/fuzz)
  df_test(regress_${h} 0 $<TARGET_FILE:regress_${h}> ${dir})
  if(h STREQUAL "fuzz_encode") # the harness encodes with the bundled tokenizers
    set_property(TEST regress_${h} APPEND PROPERTY ENVIRONMENT
      "DF_FUZZ_TOKENIZERS=${DF_FIXTURES}/models/base-16L/tokenizer.json:${DF_FIXTURES}/tokenizers/llama2-hf/tokenizer.json:${DF_FIXTURES}/tokenizers/llama3-hf/tokenizer.json")
  endif()
  list(APPEND DF_HARDENING_TESTS regress_${h})
endforeach()
# every bad input of the table: one line naming the file and the problem, non-zero on every rank
df_test(bad_inputs 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/bad_inputs.sh ${CMAKE_CURRENT_SOURCE_DIR}/bad_inputs.txt
        ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
set_tests_properties(bad_inputs PROPERTIES PROCESSORS 2)
