# Hardening (docs/reliability.md): faults (a killed rank, a full disk, non-finite values), the bad
# inputs table, the fuzzers' regression inputs through the normal loaders.
foreach(case kill efbig tmpfs nonfinite)
  df_test(fault_${case} 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_faults.sh ${case} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
  set_tests_properties(fault_${case} PROPERTIES PROCESSORS 2 SKIP_RETURN_CODE 77)
endforeach()
set(DF_HARDENING_TESTS fault_kill fault_efbig fault_tmpfs fault_nonfinite)
